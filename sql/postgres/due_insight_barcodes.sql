-- MODEL: due_insight_barcodes
-- KIND: QUERY
-- READS: product_insight, offpipe.annotate_attempt
-- PARAMS: %(server_type)s, %(types)s, %(now)s, %(limit)s
-- The products of the insights due for automatic processing: the scope of a write-back run's session.
--
-- The rule is sql/annotate/due_insights.sql, run in the session's working copy; this only narrows what the
-- session reads to the products of the `limit` oldest due insights (the same condition), so a run every
-- two minutes does not read every insight of the flavor.
SELECT DISTINCT d.barcode
FROM (
    SELECT i.barcode
    FROM product_insight AS i
    LEFT JOIN offpipe.annotate_attempt AS a ON a.insight_id = i.id
    WHERE i.server_type = %(server_type)s::text
      AND i.type = ANY (%(types)s::text[])
      AND i.annotation IS NULL
      AND i.automatic_processing
      AND i.process_after <= (%(now)s::timestamptz AT TIME ZONE 'UTC')
      AND (a.insight_id IS NULL OR a.retry_after <= %(now)s::timestamptz)
    ORDER BY i.process_after, i.id
    LIMIT %(limit)s
) AS d
ORDER BY d.barcode
