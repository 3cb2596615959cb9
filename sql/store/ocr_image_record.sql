-- MODEL: ocr_image
-- KIND: INSERT
-- READS: @ocr_recorded
-- PARAMS: $server_type, $fingerprint, $now
-- Marks OCR images as predicted under a fingerprint.
--
-- ocr_image_record: mark the images of relation `ocr_recorded(barcode, source_image, ocr_hash)` as predicted
-- under $fingerprint for $server_type, at $now (one row per image; a later prediction replaces the row).
INSERT OR REPLACE INTO ocr_image (barcode, server_type, source_image, ocr_hash, fingerprint, predicted_at)
SELECT DISTINCT ON (barcode, source_image) barcode, $server_type, source_image, ocr_hash, $fingerprint, $now
FROM ocr_recorded
