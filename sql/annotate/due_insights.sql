-- MODEL: due_insights
-- KIND: QUERY
-- READS: product_insight, annotate_attempt
-- PARAMS: $server_type, $types, $now, $limit
-- The insights due for automatic processing, oldest due first: what Robotoff's scheduler applies every 2 min.
--
-- Robotoff's `process_insights` (robotoff/scheduler/__init__.py, release 1.85.10) takes the insights with
-- automatic processing, not annotated yet, whose `process_after` has passed. Run on the store or on a
-- PostgreSQL session's working copy (the products named by sql/postgres/due_insight_barcodes.sql), so the
-- rule is this file on both stores. Only the types offpipe writes back ($types,
-- pipelines/annotate/registry.py) are taken: in a database shared with Robotoff, due insights of other types
-- (image orientation, nutrition images…) would otherwise fill every run's `limit` for ever. An insight whose
-- last call failed waits until its `retry_after` (sql/annotate/record_attempts.sql); `attempts` counts its
-- failed calls so far.
SELECT
    i.id::VARCHAR AS id,
    i.barcode,
    i.type,
    i.server_type,
    i.value,
    i.value_tag,
    i.source_image,
    i.automatic_processing,
    coalesce(a.attempts, 0) AS attempts
FROM product_insight AS i
LEFT JOIN annotate_attempt AS a ON a.insight_id = i.id
WHERE i.server_type = $server_type
  AND list_contains($types, i.type)
  AND i.annotation IS NULL
  AND i.automatic_processing
  AND i.process_after <= $now
  AND (a.insight_id IS NULL OR a.retry_after <= $now)
ORDER BY i.process_after, i.id
LIMIT $limit;
