-- MODEL: copy_run_counts
-- KIND: QUERY
-- READS: {stage}, {relation}
-- PARAMS: {stage}, {relation}
-- How many run rows the DuckDB store has, and how many of them PostgreSQL now holds (by id).
--
-- PostgreSQL's run log may hold runs of its own (a pipeline already writing to it): the copy promises that
-- every run of the DuckDB store is there, not that the logs are equal.
SELECT count(*) AS staged, count(t.id) AS present
FROM {stage} AS s
LEFT JOIN {relation} AS t ON t.id = s.id
