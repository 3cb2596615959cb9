-- MODEL: image
-- KIND: UPDATE
-- READS: @products_gone
-- PARAMS: $server_type, $now
-- Marks a deleted product's images deleted.
--
-- image_delete_product: a deleted product's images on $server_type (barcodes of relation
-- `products_gone(barcode)`) marked deleted at $now; the rows newly marked are returned.
UPDATE image AS i SET deleted = true, updated_at = $now
FROM products_gone AS g
WHERE i.server_type = $server_type AND i.barcode = g.barcode AND NOT i.deleted
RETURNING i.barcode, i.image_id
