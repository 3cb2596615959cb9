-- MODEL: import_types_by_product
-- KIND: QUERY
-- READS: store_import_batch
-- PARAMS: -
-- Import step 4: the prediction types per product, which select the insight importers to run.
--
-- robotoff/insights/importer.py, step 4: per product, the prediction types present in the incoming batch after the validity
-- filter, whether or not rows were inserted. The insight importer selects products by these sets.
SELECT barcode, server_type, list_sort(list(DISTINCT type)) AS types
FROM store_import_batch
WHERE drop_reason IS NULL
GROUP BY barcode, server_type
ORDER BY barcode, server_type;
