-- MODEL: mirror_chunk
-- KIND: TABLE
-- READS: mirror_changes_run
-- PARAMS: {export_columns}
-- The run log's changes, applied after the products' (the run row says the refresh finished).
--
-- The `run` table is not kept per product: its new row (one per refresh) goes to PostgreSQL in the session's
-- last transaction, once every product's changes are applied.
CREATE OR REPLACE TEMP TABLE mirror_chunk AS
SELECT c.op, {export_columns}
FROM mirror_changes_run AS c;
