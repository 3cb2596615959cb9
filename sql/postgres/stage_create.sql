-- MODEL: {stage}
-- KIND: TABLE
-- READS: -
-- PARAMS: {stage}, {stage_columns}
-- A staging table for one table's changes, dropped at the end of the transaction.
--
-- Changes reach PostgreSQL by COPY into this table, then a few set-based statements (apply_*.sql): no
-- row-by-row INSERT in any path (docs/store.md, "Apply").
CREATE TEMP TABLE {stage} ({stage_columns}) ON COMMIT DROP
