-- MODEL: {stage}
-- KIND: DELETE
-- READS: {stage}
-- PARAMS: {stage}
-- Empty a staging table once its statements ran, in the same transaction.
--
-- The next chunk or table of the transaction, or the next batch on the connection, finds it empty (a
-- rolled-back transaction leaves it as it was before: empty too).
DELETE FROM {stage}
