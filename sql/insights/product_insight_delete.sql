-- MODEL: product_insight
-- KIND: DELETE
-- READS: refresh_group, refresh_ref, refresh_row
-- PARAMS: -
-- Refresh step: delete the references no candidate keeps (never protected ones).
--
-- Delete the references of the refreshed groups (refresh_ref) that are neither protected (annotated, or
-- automatic) nor updated by a candidate. Returns the deleted rows' types for the counts. The semi-join on the
-- barcode first lets a one-product refresh skip most of product_insight (2 ms instead of 8 on a 1M store).
DELETE FROM product_insight i
WHERE i.barcode IN (SELECT barcode FROM refresh_group)
  AND i.id IN (
      SELECT r.id FROM refresh_ref r
      WHERE NOT r.protected AND r.id NOT IN (SELECT ref_id FROM refresh_row WHERE ref_id IS NOT NULL)
  )
RETURNING i.type;
