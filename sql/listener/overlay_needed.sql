-- MODEL: overlay_needed
-- KIND: QUERY
-- READS: image
-- PARAMS: $server_type, $codes
-- Whether a listener batch needs the image overlay at all (a cheap check first).
--
-- overlay_needed: whether the store's `image` table holds any row (live or deleted) for $server_type and one of
-- the codes $codes (the products of a listener batch). When it does not, and no OCR-ready event names an
-- image, overlay_images.sql would add and remove no image: the listener skips it (planning that
-- query costs ~10 ms, this one ~1 ms; the codes as a list parameter cost less than a registered table).
SELECT EXISTS (
    SELECT 1
    FROM image
    WHERE server_type = $server_type AND list_contains($codes, barcode)
) AS needed
