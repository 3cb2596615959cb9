-- MODEL: taxonomy_node
-- KIND: DELETE
-- READS: -
-- PARAMS: $taxonomy
-- Rows of one taxonomy ($taxonomy) in taxonomy_node, before it is loaded again.
DELETE FROM taxonomy_node WHERE taxonomy = $taxonomy;
