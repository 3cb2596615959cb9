-- MODEL: taxonomy_ancestor
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Transitive closure of taxonomy_parent (without self pairs), with depths.
--
-- Transitive closure of taxonomy_parent without self pairs: `ancestor` is a parent, grand-parent… of `id`,
-- `depth` the length of the shortest parent chain between them (1 = direct parent). The SDK's
-- is_parent_of_any(a, [b]) is `EXISTS (… WHERE id = b AND ancestor = a)` (macro is_ancestor).
CREATE TABLE IF NOT EXISTS taxonomy_ancestor (
    taxonomy VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    ancestor VARCHAR NOT NULL,
    depth INTEGER NOT NULL
);
