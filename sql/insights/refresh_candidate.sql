-- MODEL: refresh_candidate
-- KIND: TABLE
-- READS: refresh_candidate_raw, refresh_product
-- PARAMS: -
-- Refresh step: the importers' candidates after Robotoff's generic checks, in its candidate order.
--
-- refresh_candidate: the importers' candidates (refresh_candidate_raw) after the generic steps of
-- `generate_insights` (importer.py:290-369), with their rank in Robotoff's candidate order:
-- - a candidate whose source image is set but is not a digit id of the product's images is dropped;
-- - automatic_processing left unset becomes false;
-- - data.bounding_box_absolute becomes data.bounding_box, relative to the image's full size
--   (y/h, x/w, y/h, x/w clamped to [0, 1]; null for an unknown image), copied to the bounding_box column;
-- - order (`sort_candidates`, importer.py:510-547): priority, newest image, automatic first, predictor,
--   then the prediction order.
CREATE OR REPLACE TEMP TABLE refresh_candidate AS
WITH checked AS (
    SELECT
        c.*,
        coalesce(c.automatic_processing, false) AS auto,
        json_extract(c.data, '$.bounding_box_absolute') AS box_absolute,
        r.image_sizes,
        r.image_ids
    FROM refresh_candidate_raw c
    JOIN refresh_product r ON r.barcode = c.barcode AND r.server_type = c.server_type
    WHERE c.source_image IS NULL
       OR (regexp_full_match(c.image_stem, '[0-9]+') AND list_contains(r.image_ids, c.image_stem))
),
sized AS (
    SELECT
        k.*,
        list_filter(k.image_sizes, lambda s_size: s_size.id = k.image_stem)[1] AS size
    FROM checked k
),
boxed AS (
    SELECT
        s.*,
        CASE
            WHEN s.box_absolute IS NULL OR s.size IS NULL OR s.size.w IS NULL OR s.size.h IS NULL THEN NULL
            ELSE to_json([
                greatest(0.0, (s.box_absolute->>0)::DOUBLE / s.size.h),
                greatest(0.0, (s.box_absolute->>1)::DOUBLE / s.size.w),
                least(1.0, (s.box_absolute->>2)::DOUBLE / s.size.h),
                least(1.0, (s.box_absolute->>3)::DOUBLE / s.size.w)
            ])
        END AS box_relative
    FROM sized s
)
SELECT
    b.barcode, b.server_type, b.type, b.value, b.value_tag,
    CASE
        WHEN b.box_absolute IS NULL THEN b.data::JSON
        ELSE json_merge_patch(
            b.data::JSON,
            json_object('bounding_box_absolute', NULL, 'bounding_box', coalesce(b.box_relative, 'null'::JSON))
        )
    END AS data,
    b.source_image,
    b.auto AS automatic_processing,
    b.predictor, b.predictor_version, b.confidence,
    CASE WHEN b.box_absolute IS NULL THEN NULL ELSE coalesce(b.box_relative, 'null'::JSON) END AS bounding_box,
    b.conflict_key, b.taxonomy, b.campaign,
    row_number() OVER (
        PARTITION BY b.barcode, b.server_type, b.type
        ORDER BY b.priority, b.image_rank, (NOT b.auto), b.predictor_rank, b.prediction_id
    ) AS rank
FROM boxed b;
