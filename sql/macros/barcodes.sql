-- Product Opener's barcode rules as DuckDB macros: the vectorized twin of pipelines/barcodes.py.
-- Property tests (tests/pipelines/test_barcodes.py) keep both equal on random codes; the rules and their
-- reasons are documented in docs/barcodes.md. Regexes are RE2: ASCII [0-9] on purpose (no Unicode digits).
--
-- Macros are expanded textually, so a macro that used its argument several times would make nested macros
-- grow exponentially. Each one therefore binds a sub-expression once with the idiom
-- `list_transform([expr], lambda x: ...)[1]` (a one-element list: a "let" that DuckDB evaluates vectorized).

-- GS1 check digit of a 14-digit GTIN (weights 3,1,3,… from the left, the 14th digit is the check digit).
CREATE OR REPLACE MACRO off_gtin14_check_ok(g) AS
    list_transform([g], lambda t: (10 - list_sum(list_transform(range(0, 13),
        lambda i: CAST(substr(t, i + 1, 1) AS INTEGER) * CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END)) % 10) % 10
        = CAST(substr(t, 14, 1) AS INTEGER))[1];

-- The GTIN a GS1 form carries, before its check digit is verified (FNC1 already mapped to '^').
CREATE OR REPLACE MACRO off_gs1_candidate(s) AS list_transform([s], lambda t: CASE
    WHEN starts_with(t, '(') THEN nullif(regexp_extract(t, '^\(01\)([0-9]{14})(?:\(|$)', 1), '')
    WHEN starts_with(t, '^') THEN nullif(regexp_extract(t, '^\^01([0-9]{14})', 1), '')
    WHEN regexp_matches(t, '^(?i)https?://') THEN lpad(nullif(regexp_extract(t,
        '^(?i)https?://[^?#]*?/01/([0-9]{14}|[0-9]{13}|[0-9]{12}|[0-9]{8})(?:[/?#]|$)', 1), ''), 14, '0')
    ELSE nullif(regexp_extract(t, '^01([0-9]{14})', 1), '')
END)[1];

-- The 14-digit GTIN of a GS1 element string or Digital Link URL with a valid check digit, else NULL.
CREATE OR REPLACE MACRO off_gs1_gtin(raw) AS
    list_transform([off_gs1_candidate(replace(replace(raw, chr(29), '^'), chr(9245), '^'))],
        lambda c: CASE WHEN off_gtin14_check_ok(c) THEN c END)[1];

-- The digit string a raw code stands for: the GS1 GTIN if any, else its ASCII digits.
-- Fast path: a plain digit string that cannot be a GS1 element string is its own digit string.
CREATE OR REPLACE MACRO off_code_digits(raw) AS list_transform([raw], lambda r: CASE
    WHEN regexp_full_match(r, '[0-9]*') AND NOT starts_with(r, '01') THEN r
    ELSE regexp_replace(coalesce(off_gs1_gtin(r), r), '[^0-9]', '', 'g')
END)[1];

-- Strip leading zeros, pad to 13 digits, keep 8 when the 13 start with 00000; >13 digits kept stripped.
CREATE OR REPLACE MACRO off_normalize_digits(d) AS list_transform([ltrim(d, '0')], lambda s: CASE
    WHEN length(s) <= 8 THEN lpad(s, 8, '0')
    WHEN length(s) <= 13 THEN lpad(s, 13, '0')
    ELSE s
END)[1];

CREATE OR REPLACE MACRO off_digits_valid(d) AS coalesce(length(d) BETWEEN 4 AND 24, false);

-- 3/3/3/rest folders of a normalized code, left-padded to 13 digits.
CREATE OR REPLACE MACRO off_split_normalized(n) AS
    list_transform([CASE WHEN length(n) < 13 THEN lpad(n, 13, '0') ELSE n END], lambda p:
        substr(p, 1, 3) || '/' || substr(p, 4, 3) || '/' || substr(p, 7, 3) || '/' || substr(p, 10))[1];

CREATE OR REPLACE MACRO normalize_code(raw) AS off_normalize_digits(off_code_digits(raw));

CREATE OR REPLACE MACRO is_valid_code(raw) AS off_digits_valid(off_code_digits(raw));

-- {owner, code} of a product id: 'org-xyz/CODE' on the pro platform; plain codes and GS1 Digital Link
-- URLs have no owner.
CREATE OR REPLACE MACRO off_product_id_parts(product_id) AS list_transform([product_id], lambda p: CASE
    WHEN NOT regexp_matches(p, '^(?i)https?://') AND contains(p, '/')
    THEN {'owner': split_part(p, '/', 1), 'code': substr(p, strpos(p, '/') + 1)}
    ELSE {'owner': NULL, 'code': p}
END)[1];

-- Product folder: '000/009/972/3824', 'org-xyz/330/713/080/3004', or 'invalid'.
CREATE OR REPLACE MACRO split_code(product_id) AS coalesce(
    list_transform([off_product_id_parts(product_id)], lambda parts:
        list_transform([off_code_digits(parts.code)], lambda d: CASE
            WHEN parts.owner IS NOT NULL
                 AND NOT regexp_full_match(parts.owner, '(?:org|user)-[a-z0-9][a-z0-9_-]*') THEN 'invalid'
            WHEN NOT off_digits_valid(d) THEN 'invalid'
            ELSE coalesce(parts.owner || '/', '') || off_split_normalized(off_normalize_digits(d))
        END)[1])[1],
    'invalid');

-- Everything at once for bulk audits: {normalized, valid, path} of a raw code.
CREATE OR REPLACE MACRO barcode_info(raw) AS list_transform([off_code_digits(raw)], lambda d: {
    'normalized': off_normalize_digits(d),
    'valid': off_digits_valid(d),
    'path': CASE WHEN off_digits_valid(d) THEN off_split_normalized(off_normalize_digits(d)) ELSE 'invalid' END
})[1];
