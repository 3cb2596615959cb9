-- MODEL: refresh_product
-- KIND: TABLE
-- READS: @refresh_source, refresh_scope
-- PARAMS: $server_type
-- Refresh step: one row per product of the scope, the fields the importers read.
--
-- refresh_product: the product fields the importers read (robotoff/insights/importer.py), one row per barcode of the scope, from
-- `refresh_source` (the Parquet snapshot, or a one-row table of the same schema for a per-product refresh).
-- Image ids are the digit keys of `images`, with their full size for bounding boxes. Codes that normalize to the
-- same barcode (migration conflicts) keep the first line of the dump.
CREATE OR REPLACE TEMP TABLE refresh_product AS
SELECT
    s.normalized_code AS barcode,
    $server_type AS server_type,
    s.labels_tags,
    s.categories_tags,
    s.brands_tags,
    s.emb_codes_tags,
    s.quantity,
    s.expiration_date,
    s.countries_tags,
    coalesce(s.unique_scans_n, 0) AS unique_scans_n,  -- Robotoff's default (NOT NULL in its table)
    [i.key FOR i IN coalesce(s.images, []) IF regexp_full_match(i.key, '[0-9]+')] AS image_ids,
    [
        {'id': i.key, 'w': i.sizes."full".w, 'h': i.sizes."full".h}
        FOR i IN coalesce(s.images, []) IF regexp_full_match(i.key, '[0-9]+')
    ] AS image_sizes,
    s.lang
FROM refresh_source s
WHERE s.normalized_code IN (SELECT barcode FROM refresh_scope)
QUALIFY row_number() OVER (PARTITION BY s.normalized_code ORDER BY s.dump_line NULLS LAST, s.code) = 1;
