-- MODEL: ocr_hash
-- KIND: QUERY
-- READS: @ocr_rows
-- PARAMS: -
-- A content hash per OCR result: an image is predicted again only when it changes.
--
-- ocr_hash: the content hash of each row of an OCR-text table (relation `ocr_rows`, OCR_TEXT_SCHEMA), over the
-- fields the predictors read for their values (texts, orientation, logos, labels, faces, safe search). A
-- re-run OCR changes its text, so the word boxes are left out of the hash (they would make it 10x dearer).
SELECT
    barcode,
    source_image,
    md5(concat_ws(chr(31),
        ocr_source,
        coalesce(full_text, ''),
        coalesce(full_text_contiguous, ''),
        coalesce(CAST(orientation AS VARCHAR), ''),
        coalesce(CAST(logos AS VARCHAR), ''),
        coalesce(CAST(labels AS VARCHAR), ''),
        coalesce(CAST(faces AS VARCHAR), ''),
        coalesce(CAST(safe_search AS VARCHAR), '')
    )) AS ocr_hash
FROM ocr_rows
