-- MODEL: store_import_batch
-- KIND: TABLE
-- READS: @store_import_arrow, @store_import_products
-- PARAMS: $check_products
-- Import step 1: the incoming predictions, validity-filtered and deduplicated.
--
-- The incoming batch (robotoff/insights/importer.py), one row per incoming prediction, in batch order (`_row`):
--
-- * drop_reason: step 1, the validity filter, applied only when a product table is given
--   ($check_products). 'product_missing': no product with that barcode. 'invalid_image': source_image is
--   set (non-empty, as Robotoff tests its truthiness) and its file stem is not a digit image id listed in
--   the product's image_ids. The stem is Python's Path(source_image).stem, restricted to ASCII digits:
--   the last path segment must be `<digits>` or `<digits>.<suffix without dots>`.
-- * is_first: the first valid row of each prediction key. Only these are inserted (step 3), so two
--   identical incoming rows give one stored row. The key is Robotoff's existence key; PARTITION BY groups
--   NULLs together, i.e. NULL matches NULL, as Robotoff's Python tuple comparison does.
CREATE TEMP TABLE store_import_batch AS
WITH checked AS (
    SELECT
        b._row,
        b.type,
        b.barcode,
        b.server_type,
        b.value,
        b.value_tag,
        b.data::JSON AS data,
        b.automatic_processing,
        b.predictor,
        b.predictor_version,
        b.source_image,
        b.confidence,
        CASE
            WHEN NOT $check_products THEN NULL
            WHEN NOT EXISTS (SELECT 1 FROM store_import_products p WHERE p.barcode = b.barcode)
                THEN 'product_missing'
            WHEN coalesce(b.source_image, '') <> '' AND NOT EXISTS (
                SELECT 1
                FROM store_import_products p
                WHERE p.barcode = b.barcode
                  AND list_contains(
                      p.image_ids,
                      nullif(regexp_extract(rtrim(b.source_image, '/'), '(?:^|/)([0-9]+)(?:\.[^./]+)?$', 1), '')
                  )
            ) THEN 'invalid_image'
        END AS drop_reason
    FROM store_import_arrow b
)
SELECT
    *,
    drop_reason IS NULL
    AND row_number() OVER (
        PARTITION BY
            drop_reason IS NULL, barcode, server_type, type, source_image, value_tag, value, predictor,
            automatic_processing
        ORDER BY _row
    ) = 1 AS is_first
FROM checked;
