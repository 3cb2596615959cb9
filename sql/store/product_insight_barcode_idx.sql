-- MODEL: product_insight_barcode_idx
-- KIND: INDEX
-- READS: product_insight
-- PARAMS: -
-- Barcode index of `product_insight`, for per-product refreshes and `insights show`.
--
-- Per-product refreshes and `insights show` look insights up by barcode (single-column ART index: see
-- prediction_barcode_idx).
CREATE INDEX IF NOT EXISTS product_insight_barcode_idx ON product_insight (barcode);
