-- MODEL: run
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- One row per pipeline run, with its counts.
--
-- One row per pipeline run (bulk refresh, per-product refresh, facets, listener batch): what ran, on what,
-- when, and its counts per step and type (JSON), shown in Prefect artifacts.
CREATE TABLE IF NOT EXISTS run (
    id UUID PRIMARY KEY,
    kind VARCHAR NOT NULL,
    flavor VARCHAR,
    dump_etag VARCHAR,
    started TIMESTAMPTZ NOT NULL,
    ended TIMESTAMPTZ,
    products INTEGER,
    counts JSON
);
