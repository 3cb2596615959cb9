-- MODEL: {table}
-- KIND: DELETE
-- READS: {table}
-- PARAMS: {table}
-- Empty a working-copy table before the next scope is read into it.
--
-- The listener keeps one working copy between batches (its taxonomy tables and session state are costly to
-- rebuild): each batch empties the mirrored tables and reads its own products' rows into them.
DELETE FROM {table};
