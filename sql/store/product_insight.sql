-- MODEL: product_insight
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Robotoff's `product_insight` table.
--
-- Robotoff's `product_insight` table (robotoff/models.py): same column names. JSONB lists of
-- Robotoff (countries, brands, campaign) are VARCHAR[] here; `data` and `bounding_box` are JSON.
CREATE TABLE IF NOT EXISTS product_insight (
    id UUID PRIMARY KEY,
    barcode VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    data JSON NOT NULL,
    timestamp TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    annotation INTEGER,
    annotated_result INTEGER,
    n_votes INTEGER NOT NULL DEFAULT 0,
    username VARCHAR,
    countries VARCHAR[],
    brands VARCHAR[],
    process_after TIMESTAMPTZ,
    value_tag VARCHAR,
    value VARCHAR,
    source_image VARCHAR,
    automatic_processing BOOLEAN DEFAULT false,
    server_type VARCHAR NOT NULL DEFAULT 'off',
    unique_scans_n INTEGER,
    reserved_barcode BOOLEAN DEFAULT false,
    predictor VARCHAR,
    predictor_version VARCHAR,
    campaign VARCHAR[],
    confidence DOUBLE,
    bounding_box JSON,
    lc VARCHAR[],
    with_image BOOLEAN
);
