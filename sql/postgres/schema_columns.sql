-- MODEL: schema_columns
-- KIND: QUERY
-- READS: pg_attribute, pg_type
-- PARAMS: %(tables)s
-- The columns of the named tables as the database has them, for the schema check to compare.
--
-- One row per column: its type as PostgreSQL prints it, and the parts the check compares (element type
-- without length, whether it is an array, the varchar length), whether it may hold NULL and whether it has
-- a default (a serial id's sequence). Tables resolve through the search path.
SELECT
    wanted.name AS table_name,
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS type,
    format_type(CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE a.atttypid END, NULL) AS base_type,
    t.typcategory = 'A' AS is_array,
    CASE
        WHEN a.atttypmod >= 4
            AND (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE a.atttypid END) = 'varchar'::regtype
        THEN a.atttypmod - 4
    END AS max_length,
    NOT a.attnotnull AS nullable,
    a.atthasdef AS has_default
FROM unnest(%(tables)s::text[]) AS wanted (name)
JOIN pg_attribute AS a ON a.attrelid = to_regclass(wanted.name)
JOIN pg_type AS t ON t.oid = a.atttypid
WHERE a.attnum > 0 AND NOT a.attisdropped
ORDER BY wanted.name, a.attnum;
