-- MODEL: prediction_products
-- KIND: QUERY
-- READS: @prediction_source, @prediction_barcodes
-- PARAMS: -
-- The raw image ids of the products that received predictions (the validity filter's input).
--
-- prediction_products: for the products that received predictions, their raw image ids — the input of the
-- importer's validity filter (robotoff/insights/importer.py, step 1: a prediction whose product is missing, or whose source image
-- is not a digit id of the product's images, is dropped).
--
-- prediction_source: the product table (a view over the flavor's products.parquet, or a registered table of
-- the same columns); prediction_barcodes: a registered table (barcode).
-- Image ids are the digit keys of `images` (selected images have keys like front_fr). Codes that normalize
-- to the same barcode (migration conflicts) pool their images.
SELECT
    p.normalized_code AS barcode,
    list_distinct(flatten(list(
        list_filter([i.key FOR i IN coalesce(p.images, [])], lambda pp_key: regexp_full_match(pp_key, '[0-9]+'))
    ))) AS image_ids
FROM prediction_source AS p
WHERE p.normalized_code IN (SELECT barcode FROM prediction_barcodes)
GROUP BY p.normalized_code
