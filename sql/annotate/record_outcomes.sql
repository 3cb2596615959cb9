-- MODEL: product_insight
-- KIND: UPDATE
-- READS: product_insight, @annotate_outcomes
-- PARAMS: -
-- Records the annotations of a write-back run: annotation, result, completion time, user.
--
-- `annotate_outcomes` holds one row per insight that reached an end (docs/annotate.md, "Results"), and one
-- without an annotation per call to try again later (sql/annotate/record_attempts.sql counts those); an
-- insight annotated meanwhile by someone else (Robotoff's API, a vote) keeps its annotation: only
-- unannotated rows change, here and, on PostgreSQL, again when the change is applied
-- (sql/postgres/apply_update.sql's guard). An operator's own value written to Product Opener
-- (`user_value_tag`, annotation 2) becomes the insight's value tag, as Robotoff's CategoryAnnotator records
-- it: no value, the predicted tag kept as `data.original_value_tag`, `data.user_input` true. Returns the ids
-- recorded.
UPDATE product_insight AS i
SET annotation = o.annotation,
    annotated_result = o.annotated_result,
    completed_at = o.completed_at,
    username = o.username,
    value_tag = coalesce(o.user_value_tag, i.value_tag),
    value = CASE WHEN o.user_value_tag IS NULL THEN i.value END,
    data = CASE
        WHEN o.user_value_tag IS NULL THEN i.data
        ELSE json_merge_patch(i.data, json_object('original_value_tag', i.value_tag, 'user_input', true))
    END
FROM annotate_outcomes AS o
WHERE i.id = o.id::UUID
  AND o.annotation IS NOT NULL
  AND i.annotation IS NULL
RETURNING i.id::VARCHAR AS id;
