-- MODEL: refresh_candidate_raw
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Refresh step: the importers' candidates, empty; each importer that has predictions to read adds its own
-- (refresh_candidate_raw_<type>.sql). Its columns are the contract between the importers and the generic checks.
CREATE OR REPLACE TEMP TABLE refresh_candidate_raw (
    barcode VARCHAR,
    server_type VARCHAR,
    type VARCHAR,
    value VARCHAR,
    value_tag VARCHAR,
    data JSON,
    source_image VARCHAR,
    image_stem VARCHAR,
    automatic_processing BOOLEAN,
    predictor VARCHAR,
    predictor_version VARCHAR,
    confidence DOUBLE,
    priority INTEGER,
    image_rank BIGINT,
    predictor_rank VARCHAR,
    prediction_id BIGINT,
    conflict_key VARCHAR,
    taxonomy VARCHAR,
    campaign VARCHAR[]
);
