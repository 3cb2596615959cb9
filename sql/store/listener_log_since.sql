-- MODEL: listener_log_since
-- KIND: QUERY
-- READS: listener_log
-- PARAMS: $server_type, $since
-- The products the listener applied since a time: the replay's input.
--
-- listener_log_since: the products the listener applied for $server_type at or after $since, and whether
-- each is gone (the replay's input), in barcode order.
SELECT barcode, deleted
FROM listener_log
WHERE server_type = $server_type AND applied_at >= $since
ORDER BY barcode
