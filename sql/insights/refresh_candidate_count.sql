-- MODEL: refresh_candidate_count
-- KIND: QUERY
-- READS: refresh_candidate
-- PARAMS: -
-- Candidates per insight type after the generic checks (the report's `candidates`).
SELECT type, count(*) AS candidates FROM refresh_candidate GROUP BY ALL ORDER BY 1;
