-- MODEL: offpipe.run
-- KIND: INSERT
-- READS: {stage}
-- PARAMS: {relation}, {stage}, {insert_columns}, {insert_values}
-- Insert the staged run rows of a DuckDB store whose id PostgreSQL does not have yet.
--
-- The run log only grows and a run's id is a uuid: a row PostgreSQL has is the same run, kept as it is, so
-- copying twice inserts nothing the second time. One short transaction after the product tables (a run row
-- says its work is stored).
INSERT INTO {relation} ({insert_columns})
SELECT {insert_values}
FROM {stage} AS s
ORDER BY s.started, s.id
ON CONFLICT (id) DO NOTHING
