-- refresh_ref: the stored insights of the refreshed (product, type) groups, the references the decision step
-- compares candidates with; protected = annotated, or about to be applied automatically (never deleted nor
-- updated by a refresh: counted as kept_protected). ref_rank is the stored order (timestamp, id).
CREATE OR REPLACE TEMP TABLE refresh_ref AS
SELECT
    i.*,
    (i.annotation IS NOT NULL OR i.automatic_processing IS TRUE) AS protected,
    row_number() OVER (PARTITION BY i.barcode, i.server_type, i.type ORDER BY i.timestamp, i.id) AS ref_rank
FROM product_insight i
JOIN refresh_group g ON g.barcode = i.barcode AND g.server_type = i.server_type AND g.type = i.type;
