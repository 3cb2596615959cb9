-- MODEL: scope_rows
-- KIND: QUERY
-- READS: offpipe.run
-- PARAMS: {columns}, %(server_type)s
-- The run log a refresh reads: the latest finished bulk run of the flavor (its product count).
--
-- The refresh's safety stop compares the product table with the previous bulk run's products
-- (sql/insights/refresh_previous_products.sql); the run log grows by one row per refresh, so a session reads
-- only the row that step can pick.
COPY (
    SELECT {columns}
    FROM offpipe.run AS t
    WHERE t.kind = 'bulk' AND t.ended IS NOT NULL
      AND (%(server_type)s::text IS NULL OR t.flavor = %(server_type)s::text)
    ORDER BY t.ended DESC
    LIMIT 1
) TO STDOUT (FORMAT csv)
