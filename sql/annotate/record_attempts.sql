-- MODEL: annotate_attempt
-- KIND: INSERT
-- READS: annotate_attempt, product_insight, @annotate_outcomes
-- PARAMS: $now, $backoff_s, $backoff_max_s
-- Counts the failed calls of a write-back run per insight and sets when each may be tried again.
--
-- A row of `annotate_outcomes` with an `error` is a failed call (docs/annotate.md, "Failures"); `retry`
-- says whether trying later can help (5xx, timeout, lost connection). Its insight's attempts go up by one and
-- it is left alone for `backoff_s` × 2^(attempts − 1) seconds, at most `backoff_max_s`; a call that will not
-- succeed later (refused, or the last attempt allowed) has no retry time — the run records it as failed.
-- Insights annotated since (by anyone) keep no row here.
INSERT INTO annotate_attempt AS a
SELECT
    o.id::UUID AS insight_id,
    o.barcode,
    i.server_type,
    1 AS attempts,
    o.error AS last_error,
    $now AS last_attempt_at,
    CASE WHEN o.retry THEN $now + to_seconds(least($backoff_s, $backoff_max_s)) END AS retry_after
FROM annotate_outcomes AS o
JOIN product_insight AS i ON i.id = o.id::UUID
WHERE o.error IS NOT NULL
ON CONFLICT (insight_id) DO UPDATE SET
    attempts = a.attempts + 1,
    last_error = excluded.last_error,
    last_attempt_at = excluded.last_attempt_at,
    retry_after = CASE
        WHEN excluded.retry_after IS NULL THEN NULL
        ELSE $now + to_seconds(least($backoff_s * pow(2, a.attempts), $backoff_max_s))
    END;
