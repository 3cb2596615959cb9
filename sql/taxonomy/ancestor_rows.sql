-- MODEL: taxonomy_ancestor_rows
-- KIND: QUERY
-- READS: taxonomy_ancestor
-- PARAMS: $taxonomy
-- The closure rows of $taxonomy just computed, for the loader to keep with the file's parsed tables.
--
-- Another database loading the same file then inserts them (insert_ancestor_rows.sql) instead of running
-- the recursive closure again.
SELECT id, ancestor, depth FROM taxonomy_ancestor WHERE taxonomy = $taxonomy;
