-- MODEL: taxonomy_name
-- KIND: INSERT
-- READS: @taxonomy_load_name
-- PARAMS: $taxonomy
-- Name/synonym keys of $taxonomy from the Arrow table the loader registers as taxonomy_load_name.
INSERT INTO taxonomy_name (taxonomy, key, id)
SELECT $taxonomy, key, id FROM taxonomy_load_name;
