-- MODEL: {into}
-- KIND: TABLE
-- READS: -
-- PARAMS: {into}, {path}
-- Product versions read from PostgreSQL (offpipe.product_version) into the working copy.
--
-- A bulk session keeps the versions it read with its rows (`mirror_versions`) and reads those of each
-- chunk's buckets again under the chunk's locks (`mirror_versions_now`); mirror_moved.sql compares them.
CREATE OR REPLACE TEMP TABLE {into} AS
SELECT *
FROM read_csv(
    {path}, header = false, columns = {'server_type': 'VARCHAR', 'barcode': 'VARCHAR', 'version': 'BIGINT'},
    auto_detect = false
);
