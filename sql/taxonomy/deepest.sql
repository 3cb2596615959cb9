-- MODEL: taxonomy_deepest
-- KIND: QUERY
-- READS: @taxonomy_deepest_input, taxonomy_node, taxonomy_ancestor
-- PARAMS: $taxonomy
-- "Deepest only" for sets of tags (Robotoff's select_deepest_taxonomized_candidates).
--
-- "Deepest only" for sets of tags, as Robotoff's select_deepest_taxonomized_candidates (importer.py:152-178)
-- with the SDK's Taxonomy.find_deepest_nodes, for every group at once.
-- Input: a relation named taxonomy_deepest_input with columns `grp` (any type; the set a tag belongs to, e.g.
-- a barcode) and `tag`, plus any others, which are passed through. Parameter: $taxonomy.
-- Output: the input rows whose tag is a node of the taxonomy and is not an ancestor of another tag of the same
-- group. Duplicated rows stay duplicated (Robotoff keeps every candidate whose tag is selected); a NULL grp is
-- a group of its own; tags that are not node ids are dropped, as Robotoff does.
SELECT candidate.*
FROM taxonomy_deepest_input AS candidate
WHERE EXISTS (
        SELECT 1 FROM taxonomy_node AS node WHERE node.taxonomy = $taxonomy AND node.id = candidate.tag
    )
    AND NOT EXISTS (
        SELECT 1
        FROM taxonomy_deepest_input AS other
        JOIN taxonomy_ancestor AS anc ON anc.taxonomy = $taxonomy AND anc.id = other.tag
        WHERE other.grp IS NOT DISTINCT FROM candidate.grp AND anc.ancestor = candidate.tag
    );
