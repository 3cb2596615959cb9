-- refresh_scope for a per-product refresh: the (already normalized and validated) barcodes of the events.
CREATE OR REPLACE TEMP TABLE refresh_scope AS
SELECT DISTINCT barcode, $server_type AS server_type FROM refresh_codes;
