-- MODEL: store_rows
-- KIND: QUERY
-- READS: prediction, product_insight
-- PARAMS: -
-- Whether a database the bench is told to keep already holds predictions or insights.
--
-- With --keep the bench writes into the URL's own database; its figures are those of a fresh store only
-- when it starts empty, so a database holding rows is refused rather than measured.
SELECT (SELECT count(*) FROM (SELECT 1 FROM prediction LIMIT 1) AS p)
     + (SELECT count(*) FROM (SELECT 1 FROM product_insight LIMIT 1) AS i)
