-- MODEL: taxonomy_parent
-- KIND: INSERT
-- READS: @taxonomy_load_parent
-- PARAMS: $taxonomy
-- Parent links of $taxonomy from the Arrow table the loader registers as taxonomy_load_parent.
INSERT INTO taxonomy_parent (taxonomy, id, parent)
SELECT $taxonomy, id, parent FROM taxonomy_load_parent;
