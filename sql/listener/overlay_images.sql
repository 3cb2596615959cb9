-- MODEL: overlay_images
-- KIND: QUERY
-- READS: image, @overlay_rows, @ocr_seen
-- PARAMS: $server_type
-- Product rows' images as the listener knows them (uploads and deletions newer than the source).
--
-- overlay_images: the `images` of product rows (relation `overlay_rows(row_index, normalized_code, images)`,
-- the snapshot's images type) as the listener knows them, one row per input row by `row_index`:
-- their `images` plus the uploaded images they do not list yet — live rows of the store's `image` table for
-- $server_type (uploads seen in events, with their size and time when known) and the images of relation
-- `ocr_seen(barcode, image_id)` (an OCR-ready event is proof of its image) — and minus the images the
-- `image` table marks deleted. The product source may be older than the events (a snapshot always is):
-- without this, the importer's validity filter and the insight refresh would drop every prediction of a new
-- image, and keep accepting a deleted one. Rows keep their order and every other column.
WITH known AS (
    SELECT barcode, image_id, width, height, epoch(uploaded_at)::BIGINT AS uploaded_t
    FROM image
    WHERE server_type = $server_type AND NOT deleted AND barcode IN (SELECT normalized_code FROM overlay_rows)
    UNION ALL
    SELECT barcode, image_id, NULL, NULL, NULL FROM ocr_seen
),
gone AS (
    SELECT barcode, list(image_id) AS ids
    FROM image
    WHERE server_type = $server_type AND deleted AND barcode IN (SELECT normalized_code FROM overlay_rows)
    GROUP BY barcode
),
extra AS (
    SELECT
        barcode,
        list({
            'key': image_id, 'imgid': NULL::INTEGER, 'rev': NULL::INTEGER,
            'sizes': {
                '100': NULL::STRUCT(h INTEGER, w INTEGER), '200': NULL::STRUCT(h INTEGER, w INTEGER),
                '400': NULL::STRUCT(h INTEGER, w INTEGER),
                'full': CASE WHEN width IS NOT NULL THEN {'h': height, 'w': width} END
            },
            'uploaded_t': uploaded_t, 'uploader': NULL::VARCHAR, 'angle': NULL::INTEGER,
            'width': width, 'height': height
        } ORDER BY image_id) AS items
    FROM (SELECT DISTINCT ON (barcode, image_id) * FROM known ORDER BY barcode, image_id, width NULLS LAST)
    GROUP BY barcode
)
SELECT
    r.row_index,
    list_concat(
        list_filter(coalesce(r.images, []), lambda item: NOT list_contains(coalesce(g.ids, []), item.key)),
        list_filter(
            coalesce(e.items, []),
            lambda item: NOT list_contains([i.key FOR i IN coalesce(r.images, [])], item.key)
                AND NOT list_contains(coalesce(g.ids, []), item.key)
        )
    ) AS images
FROM overlay_rows AS r
LEFT JOIN extra AS e ON e.barcode = r.normalized_code
LEFT JOIN gone AS g ON g.barcode = r.normalized_code
ORDER BY r.row_index
