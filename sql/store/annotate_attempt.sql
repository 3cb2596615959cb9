-- MODEL: annotate_attempt
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- The failed write-back attempts of each insight: how many, the last reason, when to try again.
--
-- One row per insight whose call to Product Opener failed (docs/annotate.md, "Failures"): `attempts` so
-- far, the last failure's reason, and `retry_after`, the time before which the write-back run leaves the
-- insight alone (a backoff that doubles per attempt; NULL once the run gave up or Product Opener refused
-- the call: the insight is then recorded as failed). The row goes when the insight is written or found done.
CREATE TABLE IF NOT EXISTS annotate_attempt (
    insight_id UUID PRIMARY KEY,
    barcode VARCHAR NOT NULL,
    server_type VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    last_error VARCHAR,
    last_attempt_at TIMESTAMPTZ NOT NULL,
    retry_after TIMESTAMPTZ
);
