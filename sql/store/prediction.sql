-- MODEL: prediction
-- KIND: TABLE
-- READS: prediction_id_seq
-- PARAMS: -
-- Robotoff's `prediction` table.
--
-- Robotoff's `prediction` table (robotoff/models.py): same column names, order and nullability,
-- so an export reads like Robotoff's. `data` is JSON (Robotoff: JSONB); `timestamp` is the import time.
CREATE TABLE IF NOT EXISTS prediction (
    id BIGINT PRIMARY KEY DEFAULT nextval('prediction_id_seq'),
    barcode VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    data JSON NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    value_tag VARCHAR,
    value VARCHAR,
    source_image VARCHAR,
    automatic_processing BOOLEAN,
    predictor VARCHAR,
    predictor_version VARCHAR,
    confidence DOUBLE,
    server_type VARCHAR NOT NULL DEFAULT 'off'
);
