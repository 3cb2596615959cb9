-- MODEL: refresh_scope
-- KIND: TABLE
-- READS: @refresh_codes
-- PARAMS: $server_type
-- Refresh step (per product): the products to refresh, the barcodes of the events.
--
-- refresh_scope for a per-product refresh: the (already normalized and validated) barcodes of the events.
CREATE OR REPLACE TEMP TABLE refresh_scope AS
SELECT DISTINCT barcode, $server_type AS server_type FROM refresh_codes;
