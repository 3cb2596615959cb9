-- MODEL: fiber_facet_plan
-- KIND: QUERY
-- READS: prediction
-- PARAMS: $snapshot, $server_type, $photos_facet, $nutrition_facet
-- The products whose fiber quality facets must change, and how.
--
-- fiber_facet_plan: the products whose fiber quality facets must change, one row per product with a change
-- (code, normalized_code, facets_to_add, facets_to_remove), ordered by normalized code. Robotoff's removed
-- nightly job (robotoff/scheduler/latent.py before Robotoff commit 6119b8c1) restated over every product at once; the deviations are in docs/facets.md.
--
-- Parameters: $snapshot (the flavor's products.parquet), $server_type, $photos_facet, $nutrition_facet.
-- Reads the store's `prediction` table. Codes are checked in Python before they reach a MongoDB filter.
--
-- * fiber_mention: nutrient_mention predictions of the server type with an image, whose data.mentions object
--   has a `fiber` key (Robotoff: JSONB `data->'mentions' ? 'fiber'`; our mentions are always an object), with
--   the image id: the digit stem of source_image, '/301/762/042/2003/2.jpg' -> '2' (Python's Path.stem on
--   ASCII digits, the rule of the importer's validity filter; '' when the stem is not digits).
-- * candidate: the codes worth reading the snapshot for: those with a fiber mention, and those whose snapshot
--   rows carry one of the facets (they may lose it). Taken first so the window below sorts only them.
-- * product: one snapshot row per normalized code, the latest last_modified_t then the lowest dump_line.
-- * wanted: the first facet when a fiber mention is on a raw image of the product (a digit key of `images`)
--   and it has no fiber value (`has_fiber_value` covers the legacy `nutriments` and the 2026 `nutrition`
--   layout, so no schema_version is skipped); the second when such an image is also the imgid of a selected
--   nutrition* image. All the product's mentions count at once (Robotoff stopped at the first one per run).
-- * facets_to_add: wanted facets missing from data_quality_tags or from data_quality_warnings_tags
--   ($addToSet puts them in both); facets_to_remove: our two facets present in either field, not wanted.
WITH fiber_mention AS (
    SELECT DISTINCT
        p.barcode,
        regexp_extract(rtrim(p.source_image, '/'), '(?:^|/)([0-9]+)(?:\.[^./]+)?$', 1) AS image_id
    FROM prediction p
    WHERE p.type = 'nutrient_mention'
      AND p.server_type = $server_type
      AND p.source_image IS NOT NULL
      AND list_contains(json_keys(p.data, '$.mentions'), 'fiber')
),
candidate AS (
    SELECT barcode AS normalized_code FROM fiber_mention WHERE image_id <> ''
    UNION
    SELECT s.normalized_code
    FROM read_parquet($snapshot) s
    WHERE list_has_any(coalesce(s.data_quality_tags, []), [$photos_facet, $nutrition_facet])
       OR list_has_any(coalesce(s.data_quality_warnings_tags, []), [$photos_facet, $nutrition_facet])
),
product AS (
    SELECT
        s.code,
        s.normalized_code,
        coalesce(s.has_fiber_value, false) AS has_fiber_value,
        [i.key FOR i IN coalesce(s.images, []) IF regexp_full_match(i.key, '[0-9]+')] AS raw_image_ids,
        [
            CAST(i.imgid AS VARCHAR) FOR i IN coalesce(s.images, [])
            IF starts_with(i.key, 'nutrition') AND i.imgid IS NOT NULL
        ] AS nutrition_image_ids,
        coalesce(s.data_quality_tags, []) AS data_quality_tags,
        coalesce(s.data_quality_warnings_tags, []) AS data_quality_warnings_tags
    FROM read_parquet($snapshot) s
    WHERE s.normalized_code IN (SELECT normalized_code FROM candidate)
    QUALIFY row_number() OVER (
        PARTITION BY s.normalized_code
        ORDER BY s.last_modified_t DESC NULLS LAST, s.dump_line NULLS LAST, s.code
    ) = 1
),
wanted AS (
    SELECT
        pr.normalized_code,
        bool_or(list_contains(pr.nutrition_image_ids, m.image_id)) AS on_nutrition_photo
    FROM product pr
    JOIN fiber_mention m ON m.barcode = pr.normalized_code
    WHERE NOT pr.has_fiber_value
      AND list_contains(pr.raw_image_ids, m.image_id)
    GROUP BY pr.normalized_code
),
decided AS (
    SELECT
        pr.code,
        pr.normalized_code,
        pr.data_quality_tags,
        pr.data_quality_warnings_tags,
        CASE
            WHEN w.on_nutrition_photo THEN [$photos_facet, $nutrition_facet]
            WHEN w.normalized_code IS NOT NULL THEN [$photos_facet]
            ELSE []
        END AS wanted_facets
    FROM product pr
    LEFT JOIN wanted w ON w.normalized_code = pr.normalized_code
),
changes AS (
    SELECT
        code,
        normalized_code,
        [
            f FOR f IN wanted_facets
            IF NOT (list_contains(data_quality_tags, f) AND list_contains(data_quality_warnings_tags, f))
        ] AS facets_to_add,
        [
            f FOR f IN [$photos_facet, $nutrition_facet]
            IF (list_contains(data_quality_tags, f) OR list_contains(data_quality_warnings_tags, f))
               AND NOT list_contains(wanted_facets, f)
        ] AS facets_to_remove
    FROM decided
)
SELECT code, normalized_code, facets_to_add, facets_to_remove
FROM changes
WHERE len(facets_to_add) > 0 OR len(facets_to_remove) > 0
ORDER BY normalized_code, code
