-- MODEL: refresh_missing_count
-- KIND: QUERY
-- READS: refresh_missing
-- PARAMS: -
-- Products of the scope absent from the product table, and how many of them the refresh may delete.
SELECT count(*) AS missing, count(*) FILTER (WHERE gone) AS gone FROM refresh_missing;
