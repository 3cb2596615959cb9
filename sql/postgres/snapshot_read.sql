-- MODEL: snapshot
-- KIND: QUERY
-- READS: -
-- PARAMS: -
-- Make the transaction one read-only snapshot: every table of a session read as of the same moment.
--
-- A bulk session reads several tables and the product versions; REPEATABLE READ gives them all the same
-- snapshot, so the versions describe exactly the rows read (docs/store.md, "Concurrency").
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
