-- MODEL: insight_barcodes
-- KIND: QUERY
-- READS: product_insight
-- PARAMS: %(id)s
-- The product of one insight: the scope of the session that annotates it (`offpipe insights annotate`).
SELECT i.barcode
FROM product_insight AS i
WHERE i.id = %(id)s::uuid
