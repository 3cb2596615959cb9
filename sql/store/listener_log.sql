-- MODEL: listener_log
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- The products the listener applied work for, which a bulk run replays after committing.
--
-- The products the listener has applied work for, with the time and whether the product is gone: a bulk run
-- computes from a snapshot older than these events and would undo them, so it replays them once it has
-- committed (pipelines/listener/replay.py). One row per (server type, barcode): the latest application.
CREATE TABLE IF NOT EXISTS listener_log (
    server_type VARCHAR NOT NULL,
    barcode VARCHAR NOT NULL,
    deleted BOOLEAN NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server_type, barcode)
);
