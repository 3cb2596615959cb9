-- MODEL: taxonomy_name
-- KIND: DELETE
-- READS: -
-- PARAMS: $taxonomy
-- Rows of one taxonomy ($taxonomy) in taxonomy_name, before it is loaded again.
DELETE FROM taxonomy_name WHERE taxonomy = $taxonomy;
