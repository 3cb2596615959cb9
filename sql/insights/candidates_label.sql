-- Label importer (importer.py:661-734). In order:
-- 1. drop en:eu-agriculture and en:non-eu-agriculture (disabled upstream), and tags the product already
--    has or that are an ancestor of one of its labels (checked on the predicted tag, before step 2);
-- 2. canonicalize: a tag that is a node id stays, else the taxonomy's "<lang>:<tag of a name or synonym>"
--    map gives the id, else the tag stays as predicted;
-- 3. keep tags that are taxonomy nodes and not an ancestor of another candidate tag of the product
--    ("deepest only");
-- 4. automatic_processing left unset by the regex/flashtext predictors becomes "tag in the whitelist".
-- Conflict: same tag, or the candidate is an ancestor of the other insight's tag.
WITH valid AS (
    SELECT p.*
    FROM refresh_prediction p
    JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
    WHERE p.type = 'label'
      AND p.value_tag NOT IN ('en:eu-agriculture', 'en:non-eu-agriculture')
      AND NOT list_contains(coalesce(r.labels_tags, []), p.value_tag)
      AND NOT EXISTS (
          SELECT 1 FROM taxonomy_ancestor a
          WHERE a.taxonomy = 'labels' AND a.ancestor = p.value_tag AND list_contains(r.labels_tags, a.id)
      )
),
canonical AS (
    SELECT
        v.* REPLACE (
            CASE WHEN n.id IS NOT NULL THEN v.value_tag ELSE coalesce(m.id, v.value_tag) END AS value_tag
        )
    FROM valid v
    LEFT JOIN taxonomy_node n ON n.taxonomy = 'labels' AND n.id = v.value_tag
    LEFT JOIN taxonomy_name m ON m.taxonomy = 'labels' AND m.key = v.value_tag
),
deepest AS (
    SELECT c.*
    FROM canonical c
    WHERE c.value_tag IN (SELECT id FROM taxonomy_node WHERE taxonomy = 'labels')
      AND NOT EXISTS (
          SELECT 1
          FROM canonical o
          JOIN taxonomy_ancestor a ON a.taxonomy = 'labels' AND a.id = o.value_tag AND a.ancestor = c.value_tag
          WHERE o.barcode = c.barcode AND o.server_type = c.server_type
      )
)
SELECT
    d.barcode, d.server_type, d.type, d.value, d.value_tag, d.data, d.source_image, d.image_stem,
    CASE
        WHEN d.automatic_processing IS NULL AND d.predictor IN ('flashtext', 'regex')
            THEN d.value_tag IN (SELECT tag FROM label_whitelist)
        ELSE d.automatic_processing
    END AS automatic_processing,
    d.predictor, d.predictor_version, d.confidence,
    d.priority, d.image_rank, d.predictor_rank, d.id AS prediction_id,
    d.value_tag AS conflict_key, 'labels' AS taxonomy, NULL::VARCHAR[] AS campaign
FROM deepest d
