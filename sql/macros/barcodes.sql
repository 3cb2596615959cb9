-- MODEL: off_gtin14_check_ok, off_gs1_candidate, off_gs1_gtin, off_code_digits, off_normalize_digits, off_digits_valid, off_split_normalized, normalize_code, is_valid_code, off_product_id_parts, split_code, off_fast_p13, barcode_info, legacy_split_code
-- KIND: MACRO
-- READS: -
-- PARAMS: -
-- Product Opener's barcode rules as DuckDB macros (the twin of pipelines/barcodes.py).
--
-- Product Opener's barcode rules as DuckDB macros: the vectorized twin of pipelines/barcodes.py.
-- Property tests (tests/pipelines/test_barcodes.py) keep both equal on random codes; the rules and their
-- reasons are documented in docs/barcodes.md. Regexes are RE2: ASCII [0-9] on purpose (no Unicode digits).
--
-- Macros are expanded textually, so a macro that used its argument several times would make nested macros
-- grow exponentially. Each one therefore binds a sub-expression once with the idiom
-- `list_transform([expr], lambda x: ...)[1]` (a one-element list: a "let" that DuckDB evaluates vectorized).
-- Lambda parameters carry a `bc_` prefix: macros expand textually, and a name shared with a caller's lambda
-- would be captured.

-- GS1 check digit of a 14-digit GTIN (weights 3,1,3,… from the left, the 14th digit is the check digit).
CREATE OR REPLACE TEMP MACRO off_gtin14_check_ok(g) AS
    list_transform([g], lambda bc_g: (10 - list_sum(list_transform(range(0, 13),
        lambda bc_i: CAST(substr(bc_g, bc_i + 1, 1) AS INTEGER) * CASE WHEN bc_i % 2 = 0 THEN 3 ELSE 1 END)) % 10) % 10
        = CAST(substr(bc_g, 14, 1) AS INTEGER))[1];

-- The GTIN a GS1 form carries, before its check digit is verified (FNC1 already mapped to '^').
CREATE OR REPLACE TEMP MACRO off_gs1_candidate(s) AS list_transform([s], lambda bc_s: CASE
    WHEN starts_with(bc_s, '(') THEN nullif(regexp_extract(bc_s, '^\(01\)([0-9]{14})(?:\(|$)', 1), '')
    WHEN starts_with(bc_s, '^') THEN nullif(regexp_extract(bc_s, '^\^01([0-9]{14})', 1), '')
    WHEN regexp_matches(bc_s, '^(?i)https?://') THEN lpad(nullif(regexp_extract(bc_s,
        '^(?i)https?://[^?#]*?/01/([0-9]{14}|[0-9]{13}|[0-9]{12}|[0-9]{8})(?:[/?#]|$)', 1), ''), 14, '0')
    ELSE nullif(regexp_extract(bc_s, '^01([0-9]{14})', 1), '')
END)[1];

-- The 14-digit GTIN of a GS1 element string or Digital Link URL with a valid check digit, else NULL.
CREATE OR REPLACE TEMP MACRO off_gs1_gtin(raw) AS
    list_transform([off_gs1_candidate(replace(replace(raw, chr(29), '^'), chr(9245), '^'))],
        lambda bc_c: CASE WHEN off_gtin14_check_ok(bc_c) THEN bc_c END)[1];

-- The digit string a raw code stands for: the GS1 GTIN if any, else its ASCII digits.
-- Fast path: a plain digit string that cannot be a GS1 element string is its own digit string.
CREATE OR REPLACE TEMP MACRO off_code_digits(raw) AS list_transform([raw], lambda bc_r: CASE
    WHEN regexp_full_match(bc_r, '[0-9]*') AND NOT starts_with(bc_r, '01') THEN bc_r
    ELSE regexp_replace(coalesce(off_gs1_gtin(bc_r), bc_r), '[^0-9]', '', 'g')
END)[1];

-- Strip leading zeros, pad to 13 digits, keep 8 when the 13 start with 00000; >13 digits kept stripped.
CREATE OR REPLACE TEMP MACRO off_normalize_digits(d) AS list_transform([ltrim(d, '0')], lambda bc_z: CASE
    WHEN length(bc_z) <= 8 THEN lpad(bc_z, 8, '0')
    WHEN length(bc_z) <= 13 THEN lpad(bc_z, 13, '0')
    ELSE bc_z
END)[1];

CREATE OR REPLACE TEMP MACRO off_digits_valid(d) AS coalesce(length(d) BETWEEN 4 AND 24, false);

-- 3/3/3/rest folders of a normalized code, left-padded to 13 digits.
CREATE OR REPLACE TEMP MACRO off_split_normalized(n) AS
    list_transform([CASE WHEN length(n) < 13 THEN lpad(n, 13, '0') ELSE n END], lambda bc_p:
        substr(bc_p, 1, 3) || '/' || substr(bc_p, 4, 3) || '/' || substr(bc_p, 7, 3) || '/' || substr(bc_p, 10))[1];

CREATE OR REPLACE TEMP MACRO normalize_code(raw) AS off_normalize_digits(off_code_digits(raw));

CREATE OR REPLACE TEMP MACRO is_valid_code(raw) AS off_digits_valid(off_code_digits(raw));

-- {owner, code} of a product id: 'org-xyz/CODE' on the pro platform; plain codes and GS1 Digital Link
-- URLs have no owner.
CREATE OR REPLACE TEMP MACRO off_product_id_parts(product_id) AS list_transform([product_id], lambda bc_id: CASE
    WHEN NOT regexp_matches(bc_id, '^(?i)https?://') AND contains(bc_id, '/')
    THEN {'owner': split_part(bc_id, '/', 1), 'code': substr(bc_id, strpos(bc_id, '/') + 1)}
    ELSE {'owner': NULL, 'code': bc_id}
END)[1];

-- Product folder: '000/009/972/3824', 'org-xyz/330/713/080/3004', or 'invalid'.
CREATE OR REPLACE TEMP MACRO split_code(product_id) AS coalesce(
    list_transform([off_product_id_parts(product_id)], lambda bc_parts:
        list_transform([off_code_digits(bc_parts.code)], lambda bc_d: CASE
            WHEN bc_parts.owner IS NOT NULL
                 AND NOT regexp_full_match(bc_parts.owner, '(?:org|user)-[a-z0-9][a-z0-9_-]*') THEN 'invalid'
            WHEN NOT off_digits_valid(bc_d) THEN 'invalid'
            ELSE coalesce(bc_parts.owner || '/', '') || off_split_normalized(off_normalize_digits(bc_d))
        END)[1])[1],
    'invalid');

-- Everything at once for bulk use: {normalized, valid, path} of a raw code. Plain digit strings (nearly every
-- code of a dump) take a lambda-free fast path; anything else goes through the full rules above.
CREATE OR REPLACE TEMP MACRO off_fast_p13(stripped) AS
    CASE WHEN length(stripped) <= 13 THEN lpad(stripped, 13, '0') ELSE stripped END;

CREATE OR REPLACE TEMP MACRO barcode_info(raw) AS CASE
    WHEN regexp_full_match(raw, '[0-9]+') AND (length(raw) < 16 OR NOT starts_with(raw, '01')) THEN {
        'normalized': CASE
            WHEN length(ltrim(raw, '0')) <= 8 THEN lpad(ltrim(raw, '0'), 8, '0')
            WHEN length(ltrim(raw, '0')) <= 13 THEN lpad(ltrim(raw, '0'), 13, '0')
            ELSE ltrim(raw, '0')
        END,
        'valid': length(raw) BETWEEN 4 AND 24,
        'path': CASE WHEN length(raw) BETWEEN 4 AND 24 THEN
            substr(off_fast_p13(ltrim(raw, '0')), 1, 3) || '/' || substr(off_fast_p13(ltrim(raw, '0')), 4, 3) || '/'
            || substr(off_fast_p13(ltrim(raw, '0')), 7, 3) || '/' || substr(off_fast_p13(ltrim(raw, '0')), 10)
            ELSE 'invalid' END
    }
    ELSE list_transform([off_code_digits(raw)], lambda bc_info: {
        'normalized': off_normalize_digits(bc_info),
        'valid': off_digits_valid(bc_info),
        'path': CASE WHEN off_digits_valid(bc_info) THEN off_split_normalized(off_normalize_digits(bc_info))
                     ELSE 'invalid' END
    })[1]
END;

-- Folder of a raw code under the pre-migration layout: the code as stored, unpadded, split 3/3/3/rest only
-- with 9+ digits ('99723824' → '99723824', '00000111222' → '000/001/112/22'); 'invalid' for invalid codes.
CREATE OR REPLACE TEMP MACRO legacy_split_code(raw) AS list_transform([off_code_digits(raw)], lambda bc_l: CASE
    WHEN NOT off_digits_valid(bc_l) THEN 'invalid'
    WHEN length(bc_l) >= 9 THEN substr(bc_l, 1, 3) || '/' || substr(bc_l, 4, 3) || '/' || substr(bc_l, 7, 3)
        || CASE WHEN length(bc_l) > 9 THEN '/' || substr(bc_l, 10) ELSE '' END
    ELSE bc_l
END)[1];
