-- MODEL: mirror_memory
-- KIND: QUERY
-- READS: -
-- PARAMS: {memory_limit}
-- The memory a bulk session's in-memory working copy may use before it spills to its temporary folder.
--
-- The working copy of a bulk session holds every row of a flavor; DuckDB offloads its blocks to the
-- temp_directory beyond this limit, so the process stays within the issue's peak RSS at 4M products. The
-- value is a constant of pipelines/store/postgres/session.py.
SET memory_limit = '{memory_limit}';
