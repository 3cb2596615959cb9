-- MODEL: flavor_lock
-- KIND: QUERY
-- READS: -
-- PARAMS: %(space)s, %(key)s
-- Try the session lock of a flavor's bulk run: one bulk session of a flavor at a time.
--
-- Two bulk sessions of one flavor would decide from the same rows and apply over each other; the listener
-- does not take this lock. Released by unlock_flavor.sql or when the connection ends (a crash).
SELECT pg_try_advisory_lock(%(space)s, %(key)s)
