-- MODEL: taxonomy_parent
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Direct parent links (TaxonomyNode.parents): one row per (node, parent).
CREATE TABLE IF NOT EXISTS taxonomy_parent (
    taxonomy VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    parent VARCHAR NOT NULL
);
