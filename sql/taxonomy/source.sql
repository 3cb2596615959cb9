-- MODEL: taxonomy_source_row
-- KIND: QUERY
-- READS: taxonomy_source
-- PARAMS: $taxonomy
-- What was recorded for $taxonomy when it was last loaded (no row: never loaded).
SELECT sha256, loader, nodes, parents, ancestors, names FROM taxonomy_source WHERE taxonomy = $taxonomy;
