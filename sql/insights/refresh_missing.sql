-- MODEL: refresh_missing
-- KIND: TABLE
-- READS: refresh_scope, refresh_product, @refresh_gone
-- PARAMS: $bulk
-- Refresh step: products of the scope absent from the product table, and whether they may be deleted.
--
-- refresh_missing: the products of the scope (refresh_scope) that are not in the product table
-- (refresh_product), with `gone`: whether the refresh may delete their predictions and unannotated insights
-- (annotated insights are history and stay). Absence alone is deletion only in a bulk refresh ($bulk: the
-- whole dump is the product table, guarded by the safety stop); a per-product refresh deletes only the
-- products its caller declares gone (refresh_gone: a `deleted` event), never one its product source merely
-- did not return (docs/insights.md, docs/reliability.md).
CREATE OR REPLACE TEMP TABLE refresh_missing AS
SELECT s.barcode, s.server_type, ($bulk OR s.barcode IN (SELECT barcode FROM refresh_gone)) AS gone
FROM refresh_scope s
WHERE NOT EXISTS (
    SELECT 1 FROM refresh_product r WHERE r.barcode = s.barcode AND r.server_type = s.server_type
);
