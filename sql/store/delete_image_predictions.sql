-- MODEL: prediction
-- KIND: DELETE
-- READS: -
-- PARAMS: $barcode, $server_type, $source_image
-- Every prediction made from an image deleted from its product.
--
-- Every prediction made from one image of a product (image deleted; robotoff/workers/update_listener.py, deleted_image_job).
DELETE FROM prediction
WHERE barcode = $barcode
  AND server_type = $server_type
  AND source_image = $source_image;
