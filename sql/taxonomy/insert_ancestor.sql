-- MODEL: taxonomy_ancestor
-- KIND: INSERT
-- READS: taxonomy_parent
-- PARAMS: $taxonomy
-- Transitive closure of the parent links of a taxonomy.
--
-- Transitive closure of the parent links of $taxonomy, set-based: a breadth-first recursive CTE.
-- Why USING KEY and the `recurring` table: the CTE keeps one row per (id, ancestor) and a step only adds pairs
-- not reached before, so each pair is produced once, at its shortest depth (every row of one step has the
-- same depth), and a cycle (a → b → a) stops the recursion instead of making depths grow forever. The loop
-- ends after at most (longest shortest chain) steps. Pairs of a node with itself, which only a cycle makes,
-- are dropped: the table is the closure without self.
INSERT INTO taxonomy_ancestor (taxonomy, id, ancestor, depth)
WITH RECURSIVE closure (id, ancestor, depth) USING KEY (id, ancestor) AS (
    SELECT DISTINCT id, parent, 1 FROM taxonomy_parent WHERE taxonomy = $taxonomy
    UNION
    SELECT step.id, link.parent, step.depth + 1
    FROM closure AS step
    JOIN taxonomy_parent AS link ON link.taxonomy = $taxonomy AND link.id = step.ancestor
    WHERE NOT EXISTS (
        SELECT 1 FROM recurring.closure AS seen WHERE seen.id = step.id AND seen.ancestor = link.parent
    )
)
SELECT $taxonomy, id, ancestor, depth FROM closure WHERE id <> ancestor;
