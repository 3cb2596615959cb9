-- MODEL: listener_log
-- KIND: DELETE
-- READS: -
-- PARAMS: $server_type, $before
-- Forgets listener applications a newer snapshot already reflects.
--
-- listener_log_prune: forget applications older than $before for $server_type (a snapshot taken after them
-- already reflects them); the rows removed are returned.
DELETE FROM listener_log WHERE server_type = $server_type AND applied_at < $before
RETURNING barcode
