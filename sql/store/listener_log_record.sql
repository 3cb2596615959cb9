-- MODEL: listener_log
-- KIND: INSERT
-- READS: @logged
-- PARAMS: $server_type, $now
-- Records the products a listener batch applied.
--
-- listener_log_record: the products of relation `logged(barcode, deleted)` applied for $server_type at $now.
INSERT OR REPLACE INTO listener_log (server_type, barcode, deleted, applied_at)
SELECT DISTINCT ON (barcode) $server_type, barcode, deleted, $now
FROM logged
ORDER BY barcode, deleted DESC
