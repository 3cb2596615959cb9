DELETE FROM product_insight i
USING refresh_missing m
WHERE m.barcode = i.barcode AND m.server_type = i.server_type AND i.annotation IS NULL
RETURNING i.type;
