-- MODEL: snapshot_lookup
-- KIND: QUERY
-- READS: @snapshot_source
-- PARAMS: {columns}
-- The per-product lookup copy of a snapshot, sorted by code.
--
-- snapshot_lookup: the per-product lookup copy of a snapshot (relation `snapshot_source`): the columns the
-- per-product steps read ({columns}, a fixed list from pipelines/listener/lookup.py), sorted by normalized
-- code, so that each small record batch of the copy covers a narrow range of codes and one product is found
-- by decoding one such batch instead of a 100k-row group of every column.
SELECT {columns}
FROM snapshot_source
ORDER BY normalized_code, dump_line
