-- MODEL: run, ocr_image, listener_log, image, annotate_attempt, product_version, product_version_seq, schema_version
-- KIND: SCHEMA
-- READS: -
-- PARAMS: -
-- The project's own tables in a PostgreSQL store, in the schema `offpipe`, apart from Robotoff's.
--
-- The same tables as the DuckDB store's (store/run, store/ocr_image, store/listener_log, store/image,
-- store/annotate_attempt), plus
-- the per-product version the concurrent writers compare (product_version). They live in their own schema
-- so that Robotoff's migrations, dumps and table names never meet them (Robotoff has an `image` table of
-- its own). `schema_version` holds one row: the version of this schema, for a later upgrade to read.
-- Every statement is idempotent: `offpipe store init` runs this file on every call.
CREATE SCHEMA IF NOT EXISTS offpipe;

CREATE TABLE IF NOT EXISTS offpipe.run (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    flavor text,
    dump_etag text,
    started timestamptz NOT NULL,
    ended timestamptz,
    products integer,
    counts jsonb
);

CREATE TABLE IF NOT EXISTS offpipe.ocr_image (
    barcode text NOT NULL,
    server_type text NOT NULL,
    source_image text NOT NULL,
    ocr_hash text NOT NULL,
    fingerprint text NOT NULL,
    predicted_at timestamptz NOT NULL,
    PRIMARY KEY (barcode, server_type, source_image)
);

CREATE TABLE IF NOT EXISTS offpipe.listener_log (
    server_type text NOT NULL,
    barcode text NOT NULL,
    deleted boolean NOT NULL,
    applied_at timestamptz NOT NULL,
    PRIMARY KEY (server_type, barcode)
);

CREATE TABLE IF NOT EXISTS offpipe.image (
    barcode text NOT NULL,
    server_type text NOT NULL,
    image_id text NOT NULL,
    source_image text NOT NULL,
    width integer,
    height integer,
    uploaded_at timestamptz,
    deleted boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (barcode, server_type, image_id)
);

CREATE TABLE IF NOT EXISTS offpipe.annotate_attempt (
    insight_id uuid PRIMARY KEY,
    barcode text NOT NULL,
    server_type text NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    last_attempt_at timestamptz NOT NULL,
    retry_after timestamptz
);

CREATE SEQUENCE IF NOT EXISTS offpipe.product_version_seq;

CREATE TABLE IF NOT EXISTS offpipe.product_version (
    server_type text NOT NULL,
    barcode text NOT NULL,
    bucket integer NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (server_type, barcode)
);

CREATE INDEX IF NOT EXISTS product_version_bucket ON offpipe.product_version (server_type, bucket);

-- One row at most (the key is always true); the version is only ever raised by an upgrade.
CREATE TABLE IF NOT EXISTS offpipe.schema_version (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    version integer NOT NULL
);

INSERT INTO offpipe.schema_version (version) VALUES (1) ON CONFLICT (single) DO NOTHING;
