-- MODEL: taxonomy_node
-- KIND: INSERT
-- READS: @taxonomy_load_node
-- PARAMS: $taxonomy
-- Nodes of $taxonomy from the Arrow table the loader registers as taxonomy_load_node.
INSERT INTO taxonomy_node (taxonomy, id, name, names, properties)
SELECT $taxonomy, id, name, names, properties FROM taxonomy_load_node;
