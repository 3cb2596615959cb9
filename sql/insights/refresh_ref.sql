-- MODEL: refresh_ref
-- KIND: TABLE
-- READS: product_insight, refresh_group
-- PARAMS: $server_type
-- Refresh step: the stored insights the candidates are compared with (the references).
--
-- refresh_ref: the stored insights of the refreshed (product, type) groups, the references the decision step
-- compares candidates with; protected = annotated, or about to be applied automatically (never deleted nor
-- updated by a refresh: counted as kept_protected). ref_rank is the stored order (timestamp, id). Only the
-- columns the decision reads. Parameter $server_type (every group is of that server type).
--
-- The product's insights are fetched first on the barcode alone: a join on one key with a small build side
-- lets DuckDB look the barcodes up in product_insight's index (a one-product refresh reads a few rows instead
-- of scanning the table); a join on several keys, or a CTE the optimizer inlines, falls back to a scan.
CREATE OR REPLACE TEMP TABLE refresh_ref AS
WITH scoped AS MATERIALIZED (
    SELECT i.id, i.barcode, i.type, i.value, i.value_tag, i.source_image, i.annotation, i.automatic_processing,
           i.timestamp
    FROM product_insight i
    WHERE i.server_type = $server_type AND i.barcode IN (SELECT barcode FROM refresh_group)
)
SELECT
    i.id, i.barcode, g.server_type, i.type, i.value, i.value_tag, i.source_image, i.annotation,
    (i.annotation IS NOT NULL OR i.automatic_processing IS TRUE) AS protected,
    row_number() OVER (PARTITION BY i.barcode, i.type ORDER BY i.timestamp, i.id) AS ref_rank
FROM scoped i
JOIN refresh_group g ON g.barcode = i.barcode AND g.type = i.type;
