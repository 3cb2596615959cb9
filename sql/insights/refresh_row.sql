-- MODEL: refresh_row
-- KIND: TABLE
-- READS: refresh_decision, refresh_product
-- PARAMS: $now, $wait_minutes
-- Refresh step: each decided candidate as the insight row it becomes.
--
-- refresh_row: each decided candidate as the insight row it becomes (`add_fields`, importer.py:564-615):
-- reserved_barcode (the code, one leading 0 removed, starts with 2), with_image (source image set — for
-- label and category, which show generic images: the product has images), the product's countries, brands
-- and unique_scans_n, and process_after = now + the automatic-processing delay when automatic.
CREATE OR REPLACE TEMP TABLE refresh_row AS
SELECT
    d.ref_id,
    d.barcode, d.server_type, d.type, d.value, d.value_tag, d.data, d.source_image,
    d.automatic_processing, d.predictor, d.predictor_version, d.confidence, d.bounding_box,
    coalesce(d.campaign, []::VARCHAR[]) AS campaign,
    (CASE WHEN starts_with(d.barcode, '0') THEN d.barcode[2:] ELSE d.barcode END) LIKE '2%' AS reserved_barcode,
    CASE
        WHEN d.type IN ('label', 'category') THEN len(coalesce(r.image_ids, [])) > 0
        ELSE d.source_image IS NOT NULL
    END AS with_image,
    r.countries_tags AS countries,
    r.brands_tags AS brands,
    r.unique_scans_n,
    CASE WHEN d.automatic_processing THEN $now::TIMESTAMPTZ + to_minutes($wait_minutes::BIGINT) END AS process_after
FROM refresh_decision d
JOIN refresh_product r ON r.barcode = d.barcode AND r.server_type = d.server_type;
