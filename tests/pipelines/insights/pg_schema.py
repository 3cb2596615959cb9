"""The PostgreSQL store's tables for the insight tests, until ``offpipe store init`` lands.

TODO(issue 22): temporary. When the lead merges ``pipelines/store/postgres/schema.py``, the body of
:func:`create_store_schema` becomes ``init_schema(conn)`` (one line) and this DDL goes away.

Robotoff's tables as release 1.85.10's migrations create them (``prediction``, ``product_insight``,
``annotation_vote`` with its cascading foreign key), and the project's own tables in the schema ``offpipe``
with the columns of ``pipelines/store/postgres/mirror.py``.
"""

from __future__ import annotations

import psycopg

_DDL = """
CREATE TABLE public.prediction (
    id serial PRIMARY KEY,
    barcode character varying(100) NOT NULL,
    type character varying(256) NOT NULL,
    data jsonb NOT NULL,
    "timestamp" timestamp without time zone NOT NULL,
    value_tag text,
    value text,
    source_image text,
    automatic_processing boolean,
    predictor character varying(100),
    predictor_version character varying(100),
    confidence real,
    server_type character varying(10) NOT NULL
);
CREATE INDEX prediction_barcode ON public.prediction (barcode);

CREATE TABLE public.product_insight (
    id uuid PRIMARY KEY,
    barcode character varying(100) NOT NULL,
    type character varying(256) NOT NULL,
    data jsonb NOT NULL,
    "timestamp" timestamp without time zone,
    completed_at timestamp without time zone,
    annotation integer,
    annotated_result integer,
    n_votes integer NOT NULL,
    username text,
    countries jsonb,
    brands jsonb,
    process_after timestamp without time zone,
    value_tag text,
    value text,
    source_image text,
    automatic_processing boolean NOT NULL,
    server_type character varying(10),
    unique_scans_n integer NOT NULL,
    reserved_barcode boolean NOT NULL,
    predictor character varying(100),
    predictor_version character varying(100),
    campaign jsonb,
    confidence real,
    bounding_box jsonb,
    lc character varying(255)[],
    with_image boolean
);
CREATE INDEX productinsight_barcode ON public.product_insight (barcode);

CREATE TABLE public.annotation_vote (
    id uuid PRIMARY KEY,
    insight_id uuid NOT NULL REFERENCES public.product_insight (id) ON DELETE CASCADE,
    username text,
    value integer NOT NULL,
    device_id text NOT NULL,
    "timestamp" timestamp without time zone NOT NULL
);
CREATE INDEX annotationvote_insight_id ON public.annotation_vote (insight_id);

CREATE SCHEMA offpipe;

CREATE TABLE offpipe.run (
    id uuid PRIMARY KEY,
    kind text,
    flavor text,
    dump_etag text,
    started timestamptz,
    ended timestamptz,
    products integer,
    counts jsonb
);

CREATE TABLE offpipe.ocr_image (
    barcode text,
    server_type text,
    source_image text,
    ocr_hash text,
    fingerprint text,
    predicted_at timestamptz,
    PRIMARY KEY (barcode, server_type, source_image)
);

CREATE TABLE offpipe.listener_log (
    server_type text,
    barcode text,
    deleted boolean,
    applied_at timestamptz,
    PRIMARY KEY (server_type, barcode)
);

CREATE TABLE offpipe.image (
    barcode text,
    server_type text,
    image_id text,
    source_image text,
    width integer,
    height integer,
    uploaded_at timestamptz,
    deleted boolean,
    updated_at timestamptz,
    PRIMARY KEY (barcode, server_type, image_id)
);

CREATE TABLE offpipe.product_version (
    server_type text,
    barcode text,
    bucket integer NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (server_type, barcode)
);
CREATE INDEX product_version_bucket ON offpipe.product_version (server_type, bucket);

CREATE SEQUENCE offpipe.product_version_seq;
"""

# Every table a test may fill, emptied between tests (annotation_vote goes with product_insight).
TABLES = (
    "public.annotation_vote",
    "public.product_insight",
    "public.prediction",
    "offpipe.run",
    "offpipe.ocr_image",
    "offpipe.listener_log",
    "offpipe.image",
    "offpipe.product_version",
)


def create_store_schema(conn: psycopg.Connection) -> None:
    """Create the store's tables in an empty database (TODO: ``init_schema(conn)`` once merged)."""
    with conn.transaction():
        conn.execute(_DDL)


def truncate_store(conn: psycopg.Connection) -> None:
    """Empty every table of the store and restart its sequences: a clean store for the next test."""
    conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    conn.execute("ALTER SEQUENCE offpipe.product_version_seq RESTART")
