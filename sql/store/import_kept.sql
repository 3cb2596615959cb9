-- MODEL: store_import_kept
-- KIND: TABLE
-- READS: store_import_evicted, store_import_batch
-- PARAMS: -
-- Evicted predictions the import would re-insert unchanged, kept instead (a re-import is a no-op).
--
-- Evicted rows that the same import would re-insert unchanged: a stored row equal, in every column but id
-- and timestamp, to the first incoming row of a key. Deleting it and inserting its twin would leave the
-- same content with a new id and timestamp; keeping it instead makes a re-import a no-op (0 deleted,
-- 0 inserted) — the deliberate deviation documented in docs/store.md. One stored row per incoming key
-- (the oldest) is kept, so legacy duplicates still collapse as Robotoff's delete-then-insert would.
-- Comparisons are NULL-safe; `data` compares as a document (key order aside: the PostgreSQL store's jsonb
-- keeps none), `confidence` at PostgreSQL's `real` precision (docs/store.md, "One rule, two stores").
CREATE TEMP TABLE store_import_kept AS
SELECT min(p.id) AS id
FROM store_import_evicted p
JOIN store_import_batch b
    ON b.is_first
   AND b.barcode = p.barcode
   AND b.server_type = p.server_type
   AND b.type = p.type
   AND b.source_image IS NOT DISTINCT FROM p.source_image
   AND b.value_tag IS NOT DISTINCT FROM p.value_tag
   AND b.value IS NOT DISTINCT FROM p.value
   AND b.predictor IS NOT DISTINCT FROM p.predictor
   AND b.automatic_processing IS NOT DISTINCT FROM p.automatic_processing
   AND b.predictor_version IS NOT DISTINCT FROM p.predictor_version
   AND b.confidence::FLOAT IS NOT DISTINCT FROM p.confidence::FLOAT
   AND (json(b.data) = json(p.data) OR json_canonical(b.data) = json_canonical(p.data))
GROUP BY b._row;
