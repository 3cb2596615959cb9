-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product, taxonomy_node, taxonomy_name, taxonomy_ancestor
-- PARAMS: -
-- Refresh step: the category importer's candidates.
--
-- Category importer (importer.py:737-832): the tag must canonicalize to a category node (id, or the
-- "<lang>:<tag>" map; unmatched predictions are dropped), must not be on the product already nor be an
-- ancestor of one of its categories, and only the deepest candidates are kept. Campaigns:
-- "agribalyse-category" when the node has an agribalyse_food_code property, "missing-category" when the
-- product has no category. Conflict: same tag, or the candidate is an ancestor of the other's tag.
INSERT INTO refresh_candidate_raw BY NAME
WITH canonical AS (
    SELECT
        p.* REPLACE (CASE WHEN n.id IS NOT NULL THEN p.value_tag ELSE m.id END AS value_tag),
        r.categories_tags AS product_categories
    FROM refresh_prediction p
    JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
    LEFT JOIN taxonomy_node n ON n.taxonomy = 'categories' AND n.id = p.value_tag
    LEFT JOIN taxonomy_name m ON m.taxonomy = 'categories' AND m.key = p.value_tag
    WHERE p.type = 'category' AND p.value_tag IS NOT NULL
),
valid AS (
    SELECT c.*
    FROM canonical c
    WHERE c.value_tag IS NOT NULL
      AND NOT list_contains(coalesce(c.product_categories, []), c.value_tag)
      AND NOT EXISTS (
          SELECT 1 FROM taxonomy_ancestor a
          WHERE a.taxonomy = 'categories' AND a.ancestor = c.value_tag AND list_contains(c.product_categories, a.id)
      )
),
deepest AS (
    SELECT v.*
    FROM valid v
    WHERE NOT EXISTS (
        SELECT 1
        FROM valid o
        JOIN taxonomy_ancestor a ON a.taxonomy = 'categories' AND a.id = o.value_tag AND a.ancestor = v.value_tag
        WHERE o.barcode = v.barcode AND o.server_type = v.server_type
    )
)
SELECT
    d.barcode, d.server_type, d.type, d.value, d.value_tag, d.data, d.source_image, d.image_stem,
    d.automatic_processing, d.predictor, d.predictor_version, d.confidence,
    d.priority, d.image_rank, d.predictor_rank, d.id AS prediction_id,
    d.value_tag AS conflict_key, 'categories' AS taxonomy,
    list_concat(
        CASE
            WHEN json_extract(n.properties, '$.agribalyse_food_code') IS NOT NULL THEN ['agribalyse-category']
            ELSE []::VARCHAR[]
        END,
        CASE WHEN len(coalesce(d.product_categories, [])) = 0 THEN ['missing-category'] ELSE []::VARCHAR[] END
    ) AS campaign
FROM deepest d
LEFT JOIN taxonomy_node n ON n.taxonomy = 'categories' AND n.id = d.value_tag;
