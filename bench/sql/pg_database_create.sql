-- MODEL: {database}
-- KIND: DATABASE
-- READS: -
-- PARAMS: {database}
-- A database of its own for a bench run, on the server of the --store URL.
--
-- The bench measures a fresh store (the first run applies everything, the rerun nothing); the name is the
-- URL's database plus a suffix, composed as an identifier (psycopg.sql), never as text.
CREATE DATABASE {database}
