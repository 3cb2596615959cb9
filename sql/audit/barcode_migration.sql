-- MODEL: barcode_migration
-- KIND: VIEW
-- READS: @barcode_source
-- PARAMS: -
-- What Product Opener's barcode migration does to each product of a snapshot (the audit's per-product log).
--
-- barcode_migration: what Product Opener's 2024 barcode migration does to each product of a snapshot
-- (relation `barcode_source`: the Parquet snapshot). One row per product, like the migration script's log:
--   code, new_code (normalized), old_path (pre-migration folder), new_path, status:
--   invalid      the code is not a valid barcode (1–3 digits, too long, no digits);
--   same path    the folder does not change;
--   moved        the folder changes;
--   conflict     another product already has (or gets) the new folder: "new path exists, not moving
--                old_path to new_path". Within one normalized code, the product already at the new folder
--                keeps it, else the most recently modified one; the others are conflicts.
--   changed_code is true when the normalized code of a valid code differs from the code.
CREATE OR REPLACE TEMP VIEW barcode_migration AS
WITH products AS (
    SELECT
        code,
        normalized_code AS new_code,
        code_valid,
        last_modified_t,
        dump_line,
        legacy_split_code(code) AS old_path,
        barcode_info(code).path AS new_path
    FROM barcode_source
),

ranked AS (
    SELECT
        *,
        CASE WHEN code_valid THEN row_number() OVER (
            PARTITION BY new_code
            ORDER BY (old_path = new_path) DESC, last_modified_t DESC NULLS LAST, code, dump_line
        ) END AS rank_in_code,
        CASE WHEN code_valid THEN count(*) OVER (PARTITION BY new_code) END AS codes_sharing
    FROM products
)

SELECT
    code,
    new_code,
    old_path,
    new_path,
    CASE
        WHEN NOT code_valid THEN 'invalid'
        WHEN rank_in_code > 1 THEN 'conflict'
        WHEN old_path = new_path THEN 'same path'
        ELSE 'moved'
    END AS status,
    code_valid AND code IS DISTINCT FROM new_code AS changed_code
FROM ranked
ORDER BY dump_line;
