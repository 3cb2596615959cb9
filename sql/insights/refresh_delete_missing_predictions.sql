DELETE FROM prediction p
USING refresh_missing m
WHERE m.barcode = p.barcode AND m.server_type = p.server_type
RETURNING p.type;
