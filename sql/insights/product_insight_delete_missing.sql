-- MODEL: product_insight
-- KIND: DELETE
-- READS: refresh_missing
-- PARAMS: -
-- Refresh step: unannotated insights of products gone from the product table.
--
-- Deletes the unannotated insights of the missing products the refresh may delete (refresh_missing.gone);
-- annotated insights are history and stay. Returns the deleted rows' types for the report.
DELETE FROM product_insight i
USING refresh_missing m
WHERE m.gone AND m.barcode = i.barcode AND m.server_type = i.server_type AND i.annotation IS NULL
RETURNING i.type;
