"""Product Opener barcode rules: the seed's migration vectors, GS1 forms, SDK agreement, and the SQL twin."""

from __future__ import annotations

import random

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfoodfacts.barcode import normalize_barcode
from openfoodfacts.images import split_barcode

from pipelines import barcodes
from pipelines.barcodes import InvalidBarcodeError
from pipelines.common.config import get_settings
from pipelines.common.sql import connect

# From the seed's migration logs (../shared/seeds/002_5a4ab74c17aa43bb.txt).
MIGRATION_VECTORS = [
    ("99723824", "99723824", "000/009/972/3824"),
    ("00000111222", "00111222", "000/000/011/1222"),
    ("0006", "00000006", "000/000/000/0006"),
    ("00432", "00000432", "000/000/000/0432"),
    ("06147198", "06147198", "000/000/614/7198"),
    ("10181040313", "0010181040313", "001/018/104/0313"),
    ("12345678905", "0012345678905", "001/234/567/8905"),
    ("5274277490", "0005274277490", "000/527/427/7490"),
    ("6499228017", "0006499228017", "000/649/922/8017"),
]

NOISE = " -.\tabcXYZ/()^é"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return connect()


def sql_twin(con: duckdb.DuckDBPyConnection, codes: list[str | None]) -> list[tuple]:
    """normalize_code / is_valid_code / split_code of every code, computed set-based in one query."""
    rows = con.execute(
        """
        SELECT normalize_code(raw), is_valid_code(raw), split_code(raw), barcode_info(raw)
        FROM unnest($codes) WITH ORDINALITY AS t(raw, i) ORDER BY i
        """,
        {"codes": codes},
    ).fetchall()
    return [
        (normalized, valid, path, None if info is None else (info["normalized"], info["valid"], info["path"]))
        for normalized, valid, path, info in rows
    ]


def scalar(codes: list[str | None]) -> list[tuple]:
    """The same four values from the Python functions; the last is what ``barcode_info`` (the bulk macro, with
    its own fast path for plain digit strings) must return for a raw code."""
    out = []
    for code in codes:
        info = (
            None
            if code is None
            else (barcodes.normalize_code(code), barcodes.is_valid_code(code), barcodes.code_path(code))
        )
        out.append(
            (barcodes.normalize_code(code), barcodes.is_valid_code(code), barcodes.split_code(code), info)
        )
    return out


@pytest.mark.parametrize(("raw", "normalized", "path"), MIGRATION_VECTORS)
def test_migration_vectors(raw: str, normalized: str, path: str, con: duckdb.DuckDBPyConnection) -> None:
    assert barcodes.normalize_code(raw) == normalized
    assert barcodes.is_valid_code(raw)
    assert barcodes.split_code(raw) == path
    assert sql_twin(con, [raw]) == [(normalized, True, path, (normalized, True, path))]


@pytest.mark.parametrize("raw", ["12", "7", "000", "", "abc", None, "1" * 25])
def test_bogus_codes_are_invalid(raw: str | None, con: duckdb.DuckDBPyConnection) -> None:
    assert not barcodes.is_valid_code(raw)
    assert barcodes.split_code(raw) == "invalid"
    assert sql_twin(con, [raw])[0][1:3] == (False, "invalid")
    with pytest.raises(InvalidBarcodeError):
        barcodes.validated_code(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(01)03017620422003(17)251231(10)AB12", "3017620422003"),
        ("(01)03017620422003", "3017620422003"),
        ("^0103017620422003172512", "3017620422003"),
        ("\x1d0103017620422003", "3017620422003"),
        ("\u241d0103017620422003", "3017620422003"),
        ("0103017620422003", "3017620422003"),
        ("010000001234567017251231", "12345670"),  # GTIN-14 of an EAN8
        ("https://id.gs1.org/01/03017620422003/10/ABC", "3017620422003"),
        ("https://example.com/a/01/3017620422003?x=1", "3017620422003"),
        ("https://example.com/01/12345670", "12345670"),
        # A wrong check digit is not GS1: the plain digit rule applies.
        ("(01)03017620422004", "103017620422004"),
        ("0103017620422004", "103017620422004"),
        # A 14-digit code starting with 01 is a code, not an element string.
        ("01234567890128", "1234567890128"),
    ],
)
def test_gs1_forms(raw: str, expected: str, con: duckdb.DuckDBPyConnection) -> None:
    assert barcodes.normalize_code(raw) == expected
    assert sql_twin(con, [raw])[0][0] == expected


def test_pro_platform_owner_is_first_folder(con: duckdb.DuckDBPyConnection) -> None:
    assert barcodes.split_code("org-lea-nature/3307130803004") == "org-lea-nature/330/713/080/3004"
    assert barcodes.split_code("user-bob/0012345678905") == "user-bob/001/234/567/8905"
    for bad in [
        "../3307130803004",
        "org-/3307130803004",
        "Org-X/3307130803004",
        "org-x/12",
        "x y/3307130803004",
    ]:
        assert barcodes.split_code(bad) == "invalid", bad
    assert [r[2] for r in sql_twin(con, ["org-lea-nature/3307130803004", "../3307130803004"])] == [
        "org-lea-nature/330/713/080/3004",
        "invalid",
    ]


def test_legacy_split_is_unpadded() -> None:
    assert barcodes.legacy_split_code("99723824") == "99723824"
    assert barcodes.legacy_split_code("00000111222") == "000/001/112/22"
    assert barcodes.legacy_split_code("123456789") == "123/456/789"
    assert barcodes.legacy_split_code("3017620422003") == "301/762/042/2003"
    assert barcodes.legacy_split_code("12") == "invalid"


def test_urls_use_configured_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFF_IMAGES_URL_OBF", "http://127.0.0.1:8080/")
    settings_ = get_settings()
    assert barcodes.image_url("99723824", 1, "obf", settings=settings_) == (
        "http://127.0.0.1:8080/images/products/000/009/972/3824/1.jpg"
    )
    assert barcodes.image_url("0006", "2", size="400") == (
        "https://images.openfoodfacts.org/images/products/000/000/000/0006/2.400.jpg"
    )
    assert barcodes.ocr_url("3017620422003", 5, "off", settings=get_settings({"OFF_ENVIRONMENT": "net"})) == (
        "https://images.openfoodfacts.net/images/products/301/762/042/2003/5.json"
    )
    assert barcodes.image_path("org-x/3307130803004", "front_fr") == "/org-x/330/713/080/3004/front_fr.jpg"
    assert (
        barcodes.legacy_image_url("99723824", 1)
        == "https://images.openfoodfacts.org/images/products/99723824/1.jpg"
    )


@pytest.mark.parametrize(
    ("code", "image_id", "size"),
    [("12", 1, None), ("3017620422003", "../1", None), ("3017620422003", 1, "big"), ("301/76", 1, None)],
)
def test_urls_refuse_bad_input(code: str, image_id: str | int, size: str | None) -> None:
    with pytest.raises(InvalidBarcodeError):
        barcodes.image_url(code, image_id, size=size)


# -- property tests ------------------------------------------------------------------------------------------

raw_codes = st.builds(
    lambda zeros, digits, noise, pos: _with_noise("0" * zeros + digits, noise, pos),
    st.integers(0, 8),
    st.text("0123456789", min_size=1, max_size=26),
    st.text(NOISE, max_size=3),
    st.integers(0, 30),
)


def _with_noise(code: str, noise: str, pos: int) -> str:
    pos = min(pos, len(code))
    return code[:pos] + noise + code[pos:]


valid_digit_codes = st.builds(
    lambda zeros, digits: ("0" * zeros + digits)[-24:],
    st.integers(0, 6),
    st.text("0123456789", min_size=4, max_size=24),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)
@given(st.lists(raw_codes, min_size=50, max_size=200))
def test_sql_twin_equals_scalar(con: duckdb.DuckDBPyConnection, codes: list[str]) -> None:
    """Hypothesis batches of codes, each evaluated set-based in DuckDB; shrinks to a minimal code."""
    assert sql_twin(con, codes) == scalar(codes)


def test_barcode_info_macro_matches_parse(con: duckdb.DuckDBPyConnection) -> None:
    codes = [v[0] for v in MIGRATION_VECTORS] + ["12", "(01)03017620422003", "abc"]
    rows = con.execute(
        "SELECT barcode_info(raw) FROM unnest($codes) WITH ORDINALITY AS t(raw, i) ORDER BY i",
        {"codes": codes},
    ).fetchall()
    expected = [barcodes.Barcode.parse(c) for c in codes]
    assert [r[0] for r in rows] == [
        {"normalized": b.normalized, "valid": b.valid, "path": b.path} for b in expected
    ]


def test_sql_twin_equals_scalar_on_seeded_corpus(con: duckdb.DuckDBPyConnection) -> None:
    """A fixed 100k corpus, so the equality is also checked on the same codes on every run."""
    rng = random.Random(20261123)
    codes = []
    for _ in range(100_000):
        code = "0" * rng.choice([0, 0, 0, 1, 2, 5]) + "".join(rng.choices("0123456789", k=rng.randint(1, 26)))
        if rng.random() < 0.1:
            pos = rng.randint(0, len(code))
            code = code[:pos] + "".join(rng.choices(NOISE, k=rng.randint(1, 3))) + code[pos:]
        codes.append(code)
    assert sql_twin(con, codes) == scalar(codes)


@settings(max_examples=2000, deadline=None)
@given(valid_digit_codes)
def test_agrees_with_sdk_on_valid_codes(code: str) -> None:
    assert barcodes.is_valid_code(code)
    if code.startswith("01") and len(code) >= 16 and barcodes.gs1_gtin(code):
        return  # a GS1 element string: the SDK knows no GS1
    assert barcodes.normalize_code(code) == normalize_barcode(code)
    assert barcodes.split_code(code) == "/".join(split_barcode(code))


@settings(max_examples=2000, deadline=None)
@given(raw_codes)
def test_normalization_is_idempotent(raw: str) -> None:
    once = barcodes.normalize_code(raw)
    assert barcodes.normalize_code(once) == once
    if barcodes.is_valid_code(raw) and "/" not in raw:  # with a slash, split_code reads an owner id
        assert barcodes.is_valid_code(once)
        assert barcodes.split_code(once) == barcodes.split_code(raw)


@settings(max_examples=500, deadline=None)
@given(raw_codes)
def test_valid_paths_are_safe(raw: str) -> None:
    path = barcodes.split_code(raw)
    if path != "invalid":
        parts = path.split("/")
        assert len(parts) == 4
        assert all(part.isascii() and part.isdigit() for part in parts)
        assert "".join(parts).lstrip("0") == (barcodes.normalize_code(raw) or "").lstrip("0")


# -- the strict check for codes from outside (docs/reliability.md F24) -------------------------------------

GS1_ACCEPTED = [
    "(01)03017620422003(17)251231(10)AB12",
    "(01)03017620422003",
    "^0103017620422003172512",
    "\x1d0103017620422003",
    "\u241d0103017620422003",
    "010000001234567017251231",
    "https://id.gs1.org/01/03017620422003/10/ABC",
    "HTTPS://example.com/a/01/3017620422003?x=1",
]


@pytest.mark.parametrize("raw", GS1_ACCEPTED)
def test_strict_check_accepts_the_gs1_forms(raw: str) -> None:
    assert barcodes.strict_code(raw) == barcodes.normalize_code(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "\xff\xfe301428\x80",
        "3017620422003'; DROP TABLE product_insight",
        "3017620422003abc",
        "301 762 042 2003",
        "(01)03017620422004",  # wrong check digit: not GS1
        "(01)03017620422003(17)2512 31",
        "https://id.gs1.org/01/03017620422003/10/A B",
        "ftp://id.gs1.org/01/03017620422003",
        "12",
        "",
        None,
    ],
)
def test_strict_check_refuses_junk(raw: str | None) -> None:
    assert not barcodes.is_strict_code(raw)
    with pytest.raises(InvalidBarcodeError):
        barcodes.strict_code(raw)


_not_ascii_digit = st.characters(codec="utf-8").filter(lambda c: not ("0" <= c <= "9"))


@settings(max_examples=3000, deadline=None)
@given(
    st.text("0123456789", min_size=1, max_size=20),
    _not_ascii_digit,
    st.text("0123456789", min_size=1, max_size=20),
)
def test_strict_check_refuses_any_non_digit_outside_a_gs1_form(before: str, char: str, after: str) -> None:
    """A code with one non-digit character inside it (not only around it) is refused unless the whole is a GS1
    form the barcode rules read; the lenient rule would have kept its digits and named some product."""
    raw = before + char + after
    if barcodes.gs1_gtin(raw.strip(" \t\n\r\f\v")) is not None:
        return  # e.g. 01 + a GTIN-14, an FNC1, then another AI: a GS1 element string
    assert not barcodes.is_strict_code(raw)


_junk_char = st.characters(codec="utf-8").filter(
    lambda c: c == " " or (ord(c) < 32 and c != "\x1d") or ord(c) == 127 or (ord(c) > 127 and c != "\u241d")
)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["3017620422003", *GS1_ACCEPTED]),
    st.integers(min_value=1, max_value=12),
    _junk_char,
)
def test_strict_check_refuses_space_control_and_non_ascii_inside_any_form(
    good: str, position: int, char: str
) -> None:
    """Spaces, control characters (but GS, the FNC1) and non-ASCII characters (but ␝) belong to no form."""
    raw = good[:position] + char + good[position:]
    assert not barcodes.is_strict_code(raw)


@settings(max_examples=2000, deadline=None)
@given(valid_digit_codes, st.text(" \t\n", max_size=2), st.text(" \t\n", max_size=2))
def test_strict_check_keeps_every_valid_digit_code_as_today(code: str, left: str, right: str) -> None:
    assert barcodes.strict_code(left + code + right) == barcodes.validated_code(code)
    assert barcodes.strict_code(code) == barcodes.normalize_code(code)


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=40))
def test_what_the_strict_check_accepts_is_digits_or_a_gs1_form(raw: str) -> None:
    if barcodes.is_strict_code(raw):
        text = raw.strip(" \t\n\r\f\v")
        assert (text.isascii() and text.isdigit()) or barcodes.gs1_gtin(text) is not None
        assert barcodes.strict_code(raw) == barcodes.validated_code(text)


@pytest.mark.parametrize("letter", ["\u0130", "\u212a", "\u017f"])  # İ, the Kelvin sign, long s
def test_strict_check_refuses_letters_that_fold_to_ascii(letter: str) -> None:
    """Found by the property test above: Unicode case folding let these match the URL's ASCII letters."""
    assert not barcodes.is_strict_code(f"https://{letter}id.gs1.org/01/03017620422003/10/ABC")
