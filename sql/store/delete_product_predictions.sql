-- MODEL: prediction
-- KIND: DELETE
-- READS: -
-- PARAMS: $server_type, $barcodes
-- Every prediction of deleted (or moved) products.
--
-- Every prediction of the given products of one server type (product deleted, or moved to another flavor;
-- robotoff/workers/update_listener.py). $barcodes is a list of normalized barcodes.
DELETE FROM prediction
WHERE server_type = $server_type
  AND barcode IN (SELECT unnest($barcodes::VARCHAR[]));
