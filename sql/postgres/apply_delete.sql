-- MODEL: {relation}
-- KIND: DELETE
-- READS: {stage}
-- PARAMS: {relation}, {stage}, {key_match}, {guard}
-- Delete the rows the rules deleted (op d), set-based; `guard` protects rows annotated since the read.
--
-- `guard` is `AND t.annotation IS NULL` for product_insight: an insight annotated in PostgreSQL after the
-- session read it (by Robotoff's API, a vote) is never deleted (docs/store.md, "Protection").
DELETE FROM {relation} AS t
USING {stage} AS s
WHERE s.op = 'd' AND {key_match} {guard}
