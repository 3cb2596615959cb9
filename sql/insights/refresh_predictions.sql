-- refresh_prediction: the stored predictions of the products being refreshed, of the types whose importer
-- runs (spec §4.2: an importer runs for a product only when the product has predictions of its types), with
-- the sort keys Robotoff uses (`sort_predictions`, importer.py:372-399): data.priority (default 1), the
-- newest image first (minus the numeric image id; 0 without image or for a non-numeric stem), the
-- predictor ("z" when missing), then the stored order.
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
JOIN refresh_scope s ON s.barcode = p.barcode AND s.server_type = p.server_type
WHERE p.type IN (SELECT type FROM refresh_types);
