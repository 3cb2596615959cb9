-- MODEL: image
-- KIND: INSERT
-- READS: @image_uploads, @image_products
-- PARAMS: $server_type, $now
-- Records uploaded images with their size and upload time when known.
--
-- image_record: record the uploads of relation `image_uploads(barcode, image_id, source_image, event_at)`
-- for $server_type at $now, with the size and upload time the product rows `image_products` (snapshot
-- columns) give for that image id, else the event's time and an unknown size. An image seen again (a
-- redelivered event) keeps what was known; a deleted image stays deleted (image ids are never reused).
INSERT INTO image AS i (barcode, server_type, image_id, source_image, width, height, uploaded_at, deleted, updated_at)
SELECT DISTINCT ON (u.barcode, u.image_id)
    u.barcode,
    $server_type,
    u.image_id,
    u.source_image,
    known.width,
    known.height,
    coalesce(to_timestamp(known.uploaded_t), u.event_at),
    false,
    $now
FROM image_uploads AS u
LEFT JOIN (
    SELECT p.normalized_code AS barcode, img.key, img.width, img.height, img.uploaded_t
    FROM image_products AS p, unnest(p.images) AS t(img)
    WHERE regexp_full_match(img.key, '[0-9]+')  -- uploaded images; selected ones are 'front_fr'…
) AS known ON known.barcode = u.barcode AND known.key = u.image_id
ORDER BY u.barcode, u.image_id, u.event_at  -- the first upload: as least() below, batching-independent
ON CONFLICT (barcode, server_type, image_id) DO UPDATE SET
    width = coalesce(excluded.width, i.width),
    height = coalesce(excluded.height, i.height),
    uploaded_at = coalesce(least(excluded.uploaded_at, i.uploaded_at), excluded.uploaded_at),
    updated_at = excluded.updated_at
