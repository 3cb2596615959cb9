-- MODEL: {into}_{table}
-- KIND: TABLE
-- READS: {relation}
-- PARAMS: {into}, {table}, {relation}, {key_columns}, {signature}, $server_type
-- One table's rows of one server type as their key, a fingerprint of their content and their occurrence.
--
-- `offpipe store copy` makes PostgreSQL's rows equal to a DuckDB store's, matching rows on their content,
-- never on a generated id: prediction ids differ between the two stores (PostgreSQL's serial gives its
-- own), so a prediction is the same prediction when every other column is. `sig` hashes those columns with
-- documents compared as documents (json_canonical: jsonb keeps neither key order nor spacing), confidences
-- at the precision PostgreSQL stores them (Robotoff's `real`: FLOAT) and NULL as a value of its own
-- (to_json writes null), each value as the copy writes it (copy_insert.sql). `n` numbers equal rows, so two
-- equal rows of one store match two of the other.
-- Run on the working copy's rows (`copy_target_*`) and on the DuckDB store's (`copy_source_*`); slots are
-- filled from the constants of pipelines/store/postgres/mirror.py (pipelines/store/postgres/copy.py).
CREATE OR REPLACE TEMP TABLE {into}_{table} AS
SELECT {key_columns}, f.sig, row_number() OVER (PARTITION BY f.sig ORDER BY {key_columns}) AS n
FROM (
    SELECT {key_columns}, {signature} AS sig
    FROM {relation} AS c
    WHERE c.server_type = $server_type
) AS f;
