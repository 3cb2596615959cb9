-- MODEL: offpipe_schema_version
-- KIND: QUERY
-- READS: schema_version
-- PARAMS: -
-- The version of the offpipe schema the database holds, for the check to compare with this offpipe's.
--
-- A database upgraded by a newer offpipe may have tables this one does not know how to keep consistent.
SELECT version FROM offpipe.schema_version;
