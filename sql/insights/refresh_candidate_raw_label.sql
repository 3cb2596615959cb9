-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product, taxonomy_node, taxonomy_name, taxonomy_ancestor, label_whitelist
-- PARAMS: -
-- Refresh step: the label importer's candidates.
--
-- Label importer (importer.py:661-734). In order:
-- 1. drop en:eu-agriculture and en:non-eu-agriculture (disabled upstream), and tags the product already
--    has or that are an ancestor of one of its labels (checked on the predicted tag, before step 2);
-- 2. canonicalize: a tag that is a node id stays, else the taxonomy's "<lang>:<tag of a name or synonym>"
--    map gives the id, else the tag stays as predicted;
-- 3. keep tags that are taxonomy nodes and not an ancestor of another candidate tag of the product
--    ("deepest only");
-- 4. automatic_processing left unset by the regex/flashtext predictors becomes "tag in the whitelist".
-- Conflict: same tag, or the candidate is an ancestor of the other insight's tag.
-- The taxonomy tables are first cut down to the tags at hand (semi-joins with the small side as the hash
-- table), which keeps a one-product refresh from hashing whole taxonomies.
INSERT INTO refresh_candidate_raw BY NAME
WITH predicted AS (
    SELECT p.*, r.labels_tags
    FROM refresh_prediction p
    JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
    WHERE p.type = 'label'
),
tags AS (
    SELECT DISTINCT value_tag AS tag FROM predicted WHERE value_tag IS NOT NULL
),
nodes AS (
    SELECT id FROM taxonomy_node WHERE taxonomy = 'labels' AND id IN (SELECT tag FROM tags)
),
names AS (
    SELECT key, id FROM taxonomy_name WHERE taxonomy = 'labels' AND key IN (SELECT tag FROM tags)
),
tag_ancestors AS (
    SELECT id, ancestor FROM taxonomy_ancestor WHERE taxonomy = 'labels' AND ancestor IN (SELECT tag FROM tags)
),
valid AS (
    SELECT p.*
    FROM predicted p
    WHERE p.value_tag NOT IN ('en:eu-agriculture', 'en:non-eu-agriculture')
      AND NOT list_contains(coalesce(p.labels_tags, []), p.value_tag)
      AND NOT EXISTS (
          SELECT 1 FROM tag_ancestors a WHERE a.ancestor = p.value_tag AND list_contains(p.labels_tags, a.id)
      )
),
canonical AS (
    SELECT
        v.* REPLACE (
            CASE WHEN n.id IS NOT NULL THEN v.value_tag ELSE coalesce(m.id, v.value_tag) END AS value_tag
        )
    FROM valid v
    LEFT JOIN nodes n ON n.id = v.value_tag
    LEFT JOIN names m ON m.key = v.value_tag
),
canonical_nodes AS (
    SELECT id FROM taxonomy_node WHERE taxonomy = 'labels' AND id IN (SELECT value_tag FROM canonical)
),
canonical_ancestors AS (
    SELECT id, ancestor FROM taxonomy_ancestor
    WHERE taxonomy = 'labels' AND ancestor IN (SELECT value_tag FROM canonical) AND id IN (SELECT value_tag FROM canonical)
),
deepest AS (
    SELECT c.*
    FROM canonical c
    WHERE c.value_tag IN (SELECT id FROM canonical_nodes)
      AND NOT EXISTS (
          SELECT 1
          FROM canonical o
          JOIN canonical_ancestors a ON a.id = o.value_tag AND a.ancestor = c.value_tag
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
FROM deepest d;
