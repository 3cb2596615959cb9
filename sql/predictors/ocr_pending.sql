-- MODEL: ocr_pending
-- KIND: QUERY
-- READS: ocr_image, @ocr_hashed
-- PARAMS: $server_type, $fingerprint
-- The OCR images the store has no predictions for under this fingerprint and hash.
--
-- ocr_pending: the images of relation `ocr_hashed(barcode, source_image, ocr_hash)` (sql/predictors/ocr_hash.sql)
-- that the store has no predictions for under this fingerprint and OCR hash, with the fingerprint they were
-- recorded under for the same OCR hash (`recorded`, null when the image is new or its OCR changed): the
-- ledger's caller runs again only the predictors whose part of the fingerprint changed
-- (pipelines/predictors/ocr_ledger.py, stale_types). Parameters $server_type, $fingerprint.
SELECT h.barcode, h.source_image, h.ocr_hash, i.fingerprint AS recorded
FROM ocr_hashed h
LEFT JOIN ocr_image i
    ON i.barcode = h.barcode
   AND i.server_type = $server_type
   AND i.source_image = h.source_image
   AND i.ocr_hash = h.ocr_hash
WHERE i.fingerprint IS DISTINCT FROM $fingerprint
