-- MODEL: bucket_locks
-- KIND: QUERY
-- READS: -
-- PARAMS: %(space)s, %(buckets)s
-- Take the transaction's advisory locks on lock buckets, in ascending order.
--
-- Every writer (the listener's per-product transactions, the nightly run's chunks) locks the buckets of the
-- products it changes in ascending order, so none waits for another in a cycle: no deadlock, and a
-- product's changes are never interleaved (docs/store.md, "Concurrency"). Released at commit or rollback.
SELECT count(pg_advisory_xact_lock(%(space)s, b.bucket))
FROM (SELECT DISTINCT unnest(%(buckets)s::int[]) AS bucket ORDER BY 1) AS b
