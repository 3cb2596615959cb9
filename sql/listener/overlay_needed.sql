-- overlay_needed: whether the store's `image` table holds any row (live or deleted) for $server_type and one of
-- the products of relation `overlay_rows(row_index, normalized_code, images)`. When it does not, and no
-- OCR-ready event names an image, overlay_images.sql would return the rows' `images` unchanged: the listener
-- skips it (planning that query costs ~10 ms, this one ~1 ms).
SELECT EXISTS (
    SELECT 1
    FROM image
    WHERE server_type = $server_type AND barcode IN (SELECT normalized_code FROM overlay_rows)
) AS needed
