-- MODEL: image
-- KIND: INSERT
-- READS: @image_gone
-- PARAMS: $server_type, $now
-- Marks deleted images (recording unseen ones) so a stale product source cannot bring them back.
--
-- image_delete: mark deleted, at $now, the images of relation `image_gone(barcode, image_id, source_image)`
-- on $server_type — recording them when the table never saw their upload, so that a stale product source
-- cannot bring them back (sql/listener/overlay_images.sql); the rows newly marked are returned.
INSERT INTO image AS i (barcode, server_type, image_id, source_image, width, height, uploaded_at, deleted, updated_at)
SELECT DISTINCT ON (barcode, image_id) barcode, $server_type, image_id, source_image, NULL, NULL, NULL, true, $now
FROM image_gone
ON CONFLICT (barcode, server_type, image_id) DO UPDATE SET deleted = true, updated_at = excluded.updated_at
WHERE NOT i.deleted
RETURNING i.barcode, i.image_id
