-- MODEL: prediction
-- KIND: DELETE
-- READS: refresh_missing
-- PARAMS: -
-- Refresh step: predictions of products gone from the product table.
--
-- Deletes every prediction of the missing products the refresh may delete (refresh_missing.gone). Returns
-- the deleted rows' types for the report.
DELETE FROM prediction p
USING refresh_missing m
WHERE m.gone AND m.barcode = p.barcode AND m.server_type = p.server_type
RETURNING p.type;
