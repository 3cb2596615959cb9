-- MODEL: scope_rows
-- KIND: QUERY
-- READS: {relation}
-- PARAMS: {relation}, {columns}, %(server_type)s, %(everything)s, %(barcodes)s
-- A session's scope read from one PostgreSQL table as CSV: the rows of its products (or all of a flavor).
--
-- The rules run in DuckDB over the rows of the products in scope (docs/store.md, "One rule, two stores"):
-- this streams them out with COPY, no Python row objects. `everything` is true for a bulk session (every
-- product of the server type; a NULL server type reads every server type, for exports); otherwise
-- `barcodes` lists the products. Columns convert as pipelines/store/postgres/mirror.py says.
COPY (
    SELECT {columns}
    FROM {relation} AS t
    WHERE (%(server_type)s::text IS NULL OR t.server_type = %(server_type)s::text)
      AND (%(everything)s OR t.barcode = ANY(%(barcodes)s::text[]))
) TO STDOUT (FORMAT csv)
