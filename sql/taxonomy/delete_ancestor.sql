-- MODEL: taxonomy_ancestor
-- KIND: DELETE
-- READS: -
-- PARAMS: $taxonomy
-- Rows of one taxonomy ($taxonomy) in taxonomy_ancestor, before it is loaded again.
DELETE FROM taxonomy_ancestor WHERE taxonomy = $taxonomy;
