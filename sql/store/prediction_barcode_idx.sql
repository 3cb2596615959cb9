-- MODEL: prediction_barcode_idx
-- KIND: INDEX
-- READS: prediction
-- PARAMS: -
-- Barcode index of `prediction`, for per-product work.
--
-- Per-product work (the listener's deletes, loading one product's predictions) filters on barcode. DuckDB
-- turns `barcode = ?` into an index scan only for a single-column ART index (a (barcode, server_type) index
-- is not used for lookups), so the index is on barcode alone; server_type is a cheap residual filter.
CREATE INDEX IF NOT EXISTS prediction_barcode_idx ON prediction (barcode);
