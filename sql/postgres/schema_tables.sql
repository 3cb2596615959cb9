-- MODEL: schema_tables
-- KIND: QUERY
-- READS: -
-- PARAMS: %(names)s
-- Which of the named tables the database has, as the search path resolves each name.
--
-- Names without a schema (Robotoff's tables) resolve through the search path as Robotoff's own queries do;
-- `offpipe.run` and `embedding.image_embedding` name their schema. Used by init to decide whether to create
-- Robotoff's tables and to report what it created, and by the schema check.
SELECT wanted.name
FROM unnest(%(names)s::text[]) WITH ORDINALITY AS wanted (name, position)
WHERE to_regclass(wanted.name) IS NOT NULL
ORDER BY wanted.position;
