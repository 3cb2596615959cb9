-- MODEL: mirror_bucket_counts
-- KIND: QUERY
-- READS: mirror_changes_{table}
-- PARAMS: {table}
-- Changed rows per lock bucket of one table: how a bulk session cuts its apply into transactions.
--
-- The session adds these counts over the mirrored tables and cuts the bucket range into chunks of about
-- the same number of rows (pipelines/store/postgres/session.py), one PostgreSQL transaction each.
SELECT bucket, count(*) AS n
FROM mirror_changes_{table}
GROUP BY bucket
ORDER BY bucket;
