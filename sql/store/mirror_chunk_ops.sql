-- MODEL: mirror_chunk_ops
-- KIND: QUERY
-- READS: mirror_chunk
-- PARAMS: -
-- How many rows of each operation a chunk holds: the statements with nothing to do are not sent.
--
-- A listener batch changes two or three tables; skipping the others saves round trips to PostgreSQL.
SELECT op, count(*) AS n FROM mirror_chunk GROUP BY op;
