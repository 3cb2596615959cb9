-- MODEL: taxonomy_ancestor
-- KIND: INSERT
-- READS: @taxonomy_load_ancestor
-- PARAMS: $taxonomy
-- The closure of $taxonomy as insert_ancestor.sql computed it from the same file, kept by the loader.
--
-- A PostgreSQL session's working copy is a new database each time: the loader keeps the closure it computed
-- for a file's content (pipelines/taxonomy.py) and inserts those rows instead of computing them again.
INSERT INTO taxonomy_ancestor (taxonomy, id, ancestor, depth)
SELECT $taxonomy, id, ancestor, depth FROM taxonomy_load_ancestor;
