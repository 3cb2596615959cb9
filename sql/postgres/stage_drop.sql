-- MODEL: dropped_stage
-- KIND: QUERY
-- READS: -
-- PARAMS: {stage}
-- Drop a staging table once its statements ran (the next table or chunk of the transaction makes its own).
--
-- Staging tables are ON COMMIT DROP; a transaction applying several chunks of one table drops each first.
DROP TABLE {stage}
