-- known_images: the validity filter's image ids of a few products (relation `listed(barcode, image_ids)`,
-- from prediction_products), plus the images the listener knows exist although the product source does not
-- list them yet: live rows of the store's `image` table for $server_type (uploads seen in events) and the
-- images of relation `ocr_seen(barcode, image_id)` (an OCR-ready event is proof of its image). A snapshot
-- older than the upload would otherwise make the importer drop every prediction of the new image.
SELECT
    l.barcode,
    list_distinct(list_concat(l.image_ids, coalesce(k.ids, []))) AS image_ids
FROM listed AS l
LEFT JOIN (
    SELECT barcode, list(DISTINCT image_id) AS ids
    FROM (
        SELECT barcode, image_id FROM image
        WHERE server_type = $server_type AND NOT deleted AND barcode IN (SELECT barcode FROM listed)
        UNION ALL
        SELECT barcode, image_id FROM ocr_seen
    )
    GROUP BY barcode
) AS k USING (barcode)
