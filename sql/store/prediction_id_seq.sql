-- MODEL: prediction_id_seq
-- KIND: SEQUENCE
-- READS: -
-- PARAMS: -
-- Ids of the prediction table.
--
-- Ids of the prediction table (Robotoff's auto-increment `id`). Values consumed by a rolled-back import are
-- not reused: ids identify rows, they do not count them.
CREATE SEQUENCE IF NOT EXISTS prediction_id_seq START 1;
