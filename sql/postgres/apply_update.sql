-- MODEL: {relation}
-- KIND: UPDATE
-- READS: {stage}
-- PARAMS: {relation}, {stage}, {assignments}, {key_match}, {guard}
-- Update the rows the rules changed (op u) to their new values, set-based, under the same guard.
--
-- Only rows whose values changed are staged (mirror_changes.sql), so an unchanged insight keeps its row, its
-- votes and their annotation_vote rows.
UPDATE {relation} AS t
SET {assignments}
FROM {stage} AS s
WHERE s.op = 'u' AND {key_match} {guard}
