-- MODEL: taxonomy_match, canonical_tag, is_ancestor, is_ancestor_of_any
-- KIND: MACRO
-- READS: taxonomy_node, taxonomy_name, taxonomy_ancestor
-- PARAMS: -
-- Taxonomy look-ups as TEMP macros over the taxonomy_* tables.
--
-- Taxonomy look-ups for the insight importers, as TEMP macros over the taxonomy_* tables. They are not in
-- sql/macros/ because DuckDB binds a macro's tables when it is created: they can only be installed on a
-- connection whose database already has the tables (pipelines/taxonomy.py:install_macros, called by
-- ensure_schema and hence by every load). Temporary like the other macros, so a database file never holds a
-- stale definition. Arguments may be expanded more than once: pass columns or constants. Parameter names
-- must differ from the tables' column names (DuckDB refuses the macro otherwise), hence `tx` for the taxonomy.

-- Robotoff's match_taxonomized_value (robotoff/taxonomy.py): the tag itself when it is a node id of
-- taxonomy `tx`, else the node its key maps to (taxonomy_name), else NULL. No tagging of the input: the tag is
-- looked up as given, as Robotoff does. The category importer drops a prediction when this is NULL.
CREATE OR REPLACE TEMP MACRO taxonomy_match(tx, tag) AS coalesce(
    (SELECT tx_node.id FROM taxonomy_node AS tx_node WHERE tx_node.taxonomy = tx AND tx_node.id = tag),
    (SELECT tx_name.id FROM taxonomy_name AS tx_name WHERE tx_name.taxonomy = tx AND tx_name.key = tag)
);

-- The label importer's normalisation: the matched id, else the tag unchanged.
CREATE OR REPLACE TEMP MACRO canonical_tag(tx, tag) AS coalesce(taxonomy_match(tx, tag), tag);

-- The SDK's Taxonomy.is_parent_of_any(a, [b], raises=False): a is a (transitive, strict) ancestor of b.
-- False when either tag is not a node.
CREATE OR REPLACE TEMP MACRO is_ancestor(tx, a, b) AS EXISTS (
    SELECT 1 FROM taxonomy_ancestor AS tx_anc
    WHERE tx_anc.taxonomy = tx AND tx_anc.id = b AND tx_anc.ancestor = a
);

-- Taxonomy.is_parent_of_any(a, tags, raises=False) with a list: a is an ancestor of at least one of `tags`
-- (the importers' "predicted tag is a parent of a tag the product already has").
CREATE OR REPLACE TEMP MACRO is_ancestor_of_any(tx, a, tags) AS EXISTS (
    SELECT 1 FROM taxonomy_ancestor AS tx_anc
    WHERE tx_anc.taxonomy = tx AND tx_anc.ancestor = a AND list_contains(tags, tx_anc.id)
);
