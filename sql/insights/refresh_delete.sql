-- Delete the references of the refreshed groups that are neither protected (annotated, or automatic) nor
-- updated by a candidate. Returns the deleted rows' types for the counts.
DELETE FROM product_insight i
USING refresh_group g
WHERE g.barcode = i.barcode AND g.server_type = i.server_type AND g.type = i.type
  AND i.annotation IS NULL
  AND i.automatic_processing IS NOT TRUE
  AND i.id NOT IN (SELECT ref_id FROM refresh_row WHERE ref_id IS NOT NULL)
RETURNING i.type;
