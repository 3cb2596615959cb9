-- MODEL: ocr_pending
-- KIND: QUERY
-- READS: ocr_image, @ocr_hashed
-- PARAMS: $server_type, $fingerprint
-- The OCR images the store has no predictions for under this fingerprint and hash.
--
-- ocr_pending: the images of relation `ocr_hashed(barcode, source_image, ocr_hash)` (sql/predictors/ocr_hash.sql)
-- that the store has no predictions for under this fingerprint and OCR hash. Parameters $server_type,
-- $fingerprint.
SELECT h.barcode, h.source_image, h.ocr_hash
FROM ocr_hashed h
WHERE NOT EXISTS (
    SELECT 1
    FROM ocr_image i
    WHERE i.barcode = h.barcode
      AND i.server_type = $server_type
      AND i.source_image = h.source_image
      AND i.ocr_hash = h.ocr_hash
      AND i.fingerprint = $fingerprint
)
