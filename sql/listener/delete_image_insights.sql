-- MODEL: product_insight
-- KIND: DELETE
-- READS: -
-- PARAMS: $barcode, $server_type, $source_image
-- The unannotated insights drawn from an image deleted from its product.
--
-- delete_image_insights: the unannotated insights drawn from one image of a product that was deleted from it
-- (Robotoff's deleted_image_job). Parameters $barcode (normalized, valid), $server_type, $source_image
-- (`/301/762/042/2003/2.jpg`). Returns the deleted rows' types.
DELETE FROM product_insight
WHERE barcode = $barcode
  AND server_type = $server_type
  AND source_image = $source_image
  AND annotation IS NULL
RETURNING type;
