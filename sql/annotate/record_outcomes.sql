-- MODEL: product_insight
-- KIND: UPDATE
-- READS: product_insight, @annotate_outcomes
-- PARAMS: -
-- Records the annotations of a write-back run: annotation, result, completion time, user.
--
-- `annotate_outcomes` holds one row per insight that reached an end (docs/annotate.md, "Results"); an
-- insight annotated meanwhile by someone else (Robotoff's API, a vote) keeps its annotation: only
-- unannotated rows change, here and, on PostgreSQL, again when the change is applied
-- (sql/postgres/apply_update.sql's guard). Returns the ids recorded.
UPDATE product_insight AS i
SET annotation = o.annotation,
    annotated_result = o.annotated_result,
    completed_at = o.completed_at,
    username = o.username
FROM annotate_outcomes AS o
WHERE i.id = o.id::UUID
  AND i.annotation IS NULL
RETURNING i.id::VARCHAR AS id;
