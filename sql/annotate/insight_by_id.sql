-- MODEL: insight_by_id
-- KIND: QUERY
-- READS: product_insight
-- PARAMS: $id
-- One insight, as an operator's annotation reads it (`offpipe insights annotate`): its columns and whether
-- it is annotated already.
SELECT
    i.id::VARCHAR AS id,
    i.barcode,
    i.type,
    i.server_type,
    i.value,
    i.value_tag,
    i.source_image,
    i.automatic_processing,
    i.annotation
FROM product_insight AS i
WHERE i.id = $id::UUID;
