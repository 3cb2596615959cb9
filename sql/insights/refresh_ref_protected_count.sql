-- MODEL: refresh_ref_protected_count
-- KIND: QUERY
-- READS: refresh_ref
-- PARAMS: -
-- Protected references (annotated, or about to be applied automatically) per type: the report's
-- `kept_protected`, insights a refresh never deletes nor updates.
SELECT type, count(*) AS protected FROM refresh_ref WHERE protected GROUP BY ALL ORDER BY 1;
