-- MODEL: {table}
-- KIND: DELETE
-- READS: copy_plan_{table}
-- PARAMS: {table}, {plan_match}
-- Delete from the working copy the rows the DuckDB store being copied does not have (plan op d).
--
-- The session applies these deletions to PostgreSQL, under its usual guard: an annotated insight is never
-- deleted (docs/store.md, "Protection").
DELETE FROM {table} AS c
USING copy_plan_{table} AS p
WHERE p.op = 'd' AND {plan_match};
