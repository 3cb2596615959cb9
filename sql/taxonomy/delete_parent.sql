-- MODEL: taxonomy_parent
-- KIND: DELETE
-- READS: -
-- PARAMS: $taxonomy
-- Rows of one taxonomy ($taxonomy) in taxonomy_parent, before it is loaded again.
DELETE FROM taxonomy_parent WHERE taxonomy = $taxonomy;
