-- MODEL: taxonomy_source
-- KIND: INSERT
-- READS: taxonomy_node, taxonomy_parent, taxonomy_ancestor, taxonomy_name
-- PARAMS: $taxonomy, $path, $sha256, $size_bytes, $mtime, $loader, $load_seconds
-- Record (or replace) where the rows of $taxonomy came from; written in the load's transaction.
INSERT OR REPLACE INTO taxonomy_source
    (taxonomy, path, sha256, size_bytes, mtime, loader, nodes, parents, ancestors, names, load_seconds, loaded_at)
SELECT
    $taxonomy, $path, $sha256, $size_bytes, $mtime, $loader,
    (SELECT count(*) FROM taxonomy_node WHERE taxonomy = $taxonomy),
    (SELECT count(*) FROM taxonomy_parent WHERE taxonomy = $taxonomy),
    (SELECT count(*) FROM taxonomy_ancestor WHERE taxonomy = $taxonomy),
    (SELECT count(*) FROM taxonomy_name WHERE taxonomy = $taxonomy),
    $load_seconds, now();
