-- MODEL: ocr_image
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- The OCR images whose predictions are in the store, with what they were computed from.
--
-- The OCR images whose predictions are in the store: one row per (barcode, server type, image), with the hash
-- of the OCR result they were computed from and the fingerprint of the predictors and lists that computed
-- them. A bulk run re-predicts an image only when one of the three changed (pipelines/predictors/ocr_ledger.py).
CREATE TABLE IF NOT EXISTS ocr_image (
    barcode VARCHAR NOT NULL,
    server_type VARCHAR NOT NULL,
    source_image VARCHAR NOT NULL,
    ocr_hash VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    predicted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (barcode, server_type, source_image)
);
