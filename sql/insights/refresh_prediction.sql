-- MODEL: refresh_prediction
-- KIND: TABLE
-- READS: prediction, refresh_product
-- PARAMS: $server_type
-- Refresh step: the stored predictions the importers read, with Robotoff's sort keys.
--
-- refresh_prediction: the stored predictions of the products being refreshed that are in the product table
-- (refresh_product; robotoff/insights/importer.py: an importer runs for a product only when the product has predictions of its
-- types). A product absent from the product table is never touched by the importers: only the guarded
-- missing-product step may delete its data (refresh_missing_products.sql). With the sort keys Robotoff uses
-- (`sort_predictions`, importer.py:372-399): data.priority (default 1), the newest image first (minus the
-- numeric image id; 0 without image or for a non-numeric stem), the predictor ("z" when missing), then the
-- stored order. Parameter $server_type (the scope's). Every type is kept (refresh_groups.sql keeps the
-- importers' types): the only join is the semi-join on the barcode, which for a one-product refresh DuckDB
-- answers from the barcode index; another join key, or any filter on the type, makes it scan the whole table.
CREATE OR REPLACE TEMP TABLE refresh_prediction AS
SELECT
    p.*,
    regexp_replace(regexp_extract(p.source_image, '[^/]*$'), '\.[^.]*$', '') AS image_stem,
    coalesce(TRY_CAST(json_extract(p.data, '$.priority') AS INTEGER), 1) AS priority,
    CASE
        WHEN p.source_image IS NULL THEN 0
        ELSE -coalesce(TRY_CAST(regexp_replace(regexp_extract(p.source_image, '[^/]*$'), '\.[^.]*$', '') AS BIGINT), 0)
    END AS image_rank,
    coalesce(p.predictor, 'z') AS predictor_rank
FROM prediction p
WHERE p.barcode IN (SELECT barcode FROM refresh_product) AND p.server_type = $server_type;
