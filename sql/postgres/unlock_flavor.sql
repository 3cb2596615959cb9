-- MODEL: flavor_lock
-- KIND: QUERY
-- READS: -
-- PARAMS: %(space)s, %(key)s
-- Release the session lock of a flavor's bulk run.
--
-- The counterpart of lock_flavor.sql, at the end of a bulk session.
SELECT pg_advisory_unlock(%(space)s, %(key)s)
