-- MODEL: database_exists
-- KIND: QUERY
-- READS: pg_database
-- PARAMS: %(name)s
-- Whether the database --keep names exists already (else the bench creates it).
--
-- CREATE DATABASE has no IF NOT EXISTS.
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s)
