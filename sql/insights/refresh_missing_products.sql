-- Products of the scope that are no longer in the product table (deleted, or gone from the dump): their
-- predictions and unannotated insights go (annotated insights are history and stay).
CREATE OR REPLACE TEMP TABLE refresh_missing AS
SELECT s.barcode, s.server_type
FROM refresh_scope s
WHERE NOT EXISTS (
    SELECT 1 FROM refresh_product r WHERE r.barcode = s.barcode AND r.server_type = s.server_type
);
