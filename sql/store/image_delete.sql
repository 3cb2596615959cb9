-- image_delete: mark deleted, at $now, the images of relation `image_gone(barcode, image_id)` (image_id NULL:
-- every image of the barcode, for a deleted product) on $server_type; the rows marked are returned.
UPDATE image AS i SET deleted = true, updated_at = $now
FROM image_gone AS g
WHERE i.server_type = $server_type
  AND i.barcode = g.barcode
  AND (g.image_id IS NULL OR i.image_id = g.image_id)
  AND NOT i.deleted
RETURNING i.barcode, i.image_id
