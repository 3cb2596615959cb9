-- MODEL: refresh_decision
-- KIND: TABLE
-- READS: refresh_ref, refresh_candidate, taxonomy_ancestor
-- PARAMS: -
-- Refresh step: which candidates are created, which update a stored insight, which are discarded.
--
-- refresh_decision: what `get_insight_update` (importer.py:424-508) decides, set-based.
-- references: refresh_ref (sql/insights/refresh_ref.sql), the stored insights of the refreshed (product,
-- type) groups; protected = annotated, or about to be applied automatically. A candidate conflicting with a
-- protected reference is discarded; among the rest, the first of each conflict key is selected (taxonomy
-- candidates are already "deepest only", so two of them can conflict only by having the same tag). A
-- selected candidate maps onto the first unannotated reference (stored order) that it conflicts with and
-- that has the same source image: that reference is updated and keeps its id (and votes). When several
-- candidates map onto one reference, Robotoff updates it with each in turn: the last one wins and the others
-- vanish. Conflict (`is_conflicting_insight`): same conflict key (value or value_tag, per importer), or — for
-- label and category — the candidate's tag is an ancestor of the reference's tag.
CREATE OR REPLACE TEMP TABLE refresh_decision AS
WITH refs AS (
    SELECT * FROM refresh_ref
),
candidate_ancestors AS (
    SELECT a.taxonomy, a.id, a.ancestor
    FROM taxonomy_ancestor a
    WHERE a.ancestor IN (SELECT value_tag FROM refresh_candidate WHERE taxonomy IS NOT NULL)
),
pairs AS (
    SELECT c.barcode, c.server_type, c.type, c.rank, r.id AS ref_id, r.protected, r.annotation, r.ref_rank,
           r.source_image IS NOT DISTINCT FROM c.source_image AS same_image
    FROM refresh_candidate c
    JOIN refs r ON r.barcode = c.barcode AND r.server_type = c.server_type AND r.type = c.type
    LEFT JOIN candidate_ancestors a
        ON a.taxonomy = c.taxonomy AND a.ancestor = c.value_tag AND a.id = r.value_tag
    WHERE (c.taxonomy IS NULL AND c.conflict_key IS NOT DISTINCT FROM
              CASE WHEN c.type IN ('packager_code', 'product_weight', 'expiration_date') THEN r.value ELSE r.value_tag END)
       OR (c.taxonomy IS NOT NULL AND (c.value_tag = r.value_tag OR a.id IS NOT NULL))
),
kept AS (
    SELECT c.*
    FROM refresh_candidate c
    WHERE NOT EXISTS (
        SELECT 1 FROM pairs p
        WHERE p.barcode = c.barcode AND p.server_type = c.server_type AND p.type = c.type AND p.rank = c.rank
          AND p.protected
    )
),
selected AS (
    SELECT k.*
    FROM kept k
    QUALIFY row_number() OVER (PARTITION BY k.barcode, k.server_type, k.type, k.conflict_key ORDER BY k.rank) = 1
),
mapped AS (
    SELECT s.*, (
        SELECT p.ref_id FROM pairs p
        WHERE p.barcode = s.barcode AND p.server_type = s.server_type AND p.type = s.type AND p.rank = s.rank
          AND p.annotation IS NULL AND p.same_image
        ORDER BY p.ref_rank
        LIMIT 1
    ) AS ref_id
    FROM selected s
)
SELECT m.*
FROM mapped m
QUALIFY m.ref_id IS NULL
     OR row_number() OVER (PARTITION BY m.ref_id ORDER BY m.rank DESC) = 1;
