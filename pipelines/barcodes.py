"""Product Opener's barcode rules: normalization, validation, folder split, image and OCR URLs.

Product Opener migrated short barcodes (EAN8 and other codes below 13 digits) to a new normalization and
directory layout in October 2024 (``docs/barcodes.md``). The rules, applied to a *raw* code as it arrives
from a scanner, a dump line, an event or a URL:

1. GS1 forms first: a bracketed element string ``(01)03017620422003(17)…``, an unbracketed one ``^01…``
   (``^``, ASCII GS or ``␝`` standing for FNC1), a plain ``01`` + 14 digits prefix, or a GS1 Digital Link
   URL ``https://…/01/<gtin>`` yield their GTIN — when its check digit is valid, as Product Opener's GS1
   parser requires. Anything else is taken as it is.
2. Keep ASCII digits only.
3. Strip leading zeros, left-pad to 13 digits, and drop 5 leading zeros when the 13-digit result starts
   with ``00000`` (the 8-digit EAN8 form). More than 13 significant digits are kept as they are.

A code is *valid* when its digit string (step 2) has 4 to 24 digits: 1–3 digit codes are bogus (Product
Opener moved them to ``invalid-barcodes``) and longer ones cannot be stored.

Step 2 is lenient on purpose: it describes what Product Opener stored, so the dump conversion and the audit
use it. A code from *outside* (an event, a command-line argument, a flow parameter) gets the strict check
instead (:func:`strict_code`): ASCII digits, or a well-formed GS1 form, and nothing else but surrounding
whitespace. ``3017620422003'; DROP TABLE …`` is refused there, not reduced to ``3017620422003``: junk must
never become another product's code (``docs/barcodes.md``, strict check).

What comes from the SDK (``openfoodfacts``): step 3 is ``openfoodfacts.barcode.normalize_barcode`` (identical
to the rule above for every digit string), the folder split is ``openfoodfacts.images.split_barcode`` and
image/OCR file paths are ``generate_image_path``/``generate_json_ocr_path``. What the SDK lacks and this
module adds: validation (the SDK accepts 1–3 digit codes, non-digits and owner ids it cannot check), the GS1
forms, the pre-migration (legacy) folder split, URLs built on configurable base URLs, and a vectorized twin of
every rule as DuckDB macros (``sql/macros/barcodes.sql``, kept equal to this module by property tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openfoodfacts.barcode import has_valid_check_digit, normalize_barcode
from openfoodfacts.images import generate_image_path, generate_json_ocr_path, split_barcode

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError

INVALID_PATH = "invalid"
MIN_DIGITS = 4
MAX_DIGITS = 24

_NON_DIGITS = re.compile(r"[^0-9]")
_FNC1 = str.maketrans({"\x1d": "^", "\u241d": "^"})
_GS1_BRACKETED = re.compile(r"\(01\)([0-9]{14})(?:\(|\Z)")
_GS1_UNBRACKETED = re.compile(r"\^01([0-9]{14})")
_GS1_PLAIN = re.compile(r"01([0-9]{14})")
_URL = re.compile(r"https?://", re.IGNORECASE)
_GS1_DIGITAL_LINK = re.compile(
    r"https?://[^?#]*?/01/([0-9]{14}|[0-9]{13}|[0-9]{12}|[0-9]{8})(?:[/?#]|\Z)", re.IGNORECASE
)
_OWNER = re.compile(r"(?:org|user)-[a-z0-9][a-z0-9_-]*")
_IMAGE_ID = re.compile(r"[0-9]+|[a-z]+(?:_[a-z]{2,3})?")
_IMAGE_SIZES = frozenset({"100", "200", "400", "full"})
_LEGACY_SPLIT = re.compile(r"([0-9]{3})([0-9]{3})([0-9]{3})([0-9]*)")

# The strict check for codes from outside (strict_code). GS1 General Specifications' character set 82 is what
# an element string's values may hold; in the bracketed form the parentheses delimit the AIs, so values go
# without them. A raw element string continues after the fixed-length GTIN with an AI (digits), optionally
# after an FNC1 (written ``^`` once GS and ␝ are translated).
_ASCII_SPACE = " \t\n\r\f\v"
_ASCII_DIGITS = re.compile(r"[0-9]+")
_GS1_CHAR = r"""[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]"""
_GS1_VALUE_CHAR = r"""[!"%&'*+,\-./0-9:;<=>?A-Z_a-z]"""
_STRICT_GS1_BRACKETED = re.compile(rf"\(01\)[0-9]{{14}}(?:\([0-9]{{2,4}}\){_GS1_VALUE_CHAR}+)*")
_STRICT_GS1_RAW = re.compile(rf"\^?01[0-9]{{14}}(?:\^?[0-9](?:{_GS1_CHAR}|\^)*)?")
# re.ASCII: with Unicode case folding, IGNORECASE lets "İ", "ſ" or the Kelvin sign match the ASCII letters
_STRICT_DIGITAL_LINK = re.compile(
    r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE | re.ASCII
)


class InvalidBarcodeError(OffpipeError, ValueError):
    """A barcode (or product id, or image id) that must not reach a path, URL, SQL or MongoDB filter."""


@dataclass(frozen=True)
class Barcode:
    """One raw code with everything the pipeline derives from it."""

    raw: str
    normalized: str
    valid: bool
    path: str

    @classmethod
    def parse(cls, raw: str) -> Barcode:
        """Normalize, validate and split the raw code ``raw`` at once (as the ``barcode_info`` macro does)."""
        return cls(
            raw=raw, normalized=normalize_code(raw) or "", valid=is_valid_code(raw), path=code_path(raw)
        )


def gs1_gtin(raw: str) -> str | None:
    """The 14-digit GTIN of a GS1 element string or Digital Link URL, or None when ``raw`` is neither.

    The GTIN's check digit must be valid, as Product Opener's GS1 parser checks it; a string that only
    looks like GS1 falls back to the plain digit rule.
    """
    text = raw.translate(_FNC1)
    candidate: str | None = None
    if text.startswith("("):
        match = _GS1_BRACKETED.match(text)
        candidate = match.group(1) if match else None
    elif text.startswith("^"):
        match = _GS1_UNBRACKETED.match(text)
        candidate = match.group(1) if match else None
    elif _URL.match(text):
        match = _GS1_DIGITAL_LINK.match(text)
        candidate = match.group(1).zfill(14) if match else None
    else:
        match = _GS1_PLAIN.match(text)
        candidate = match.group(1) if match else None
    if candidate is not None and has_valid_check_digit(candidate):
        return candidate
    return None


def code_digits(raw: str) -> str:
    """The digit string a raw code stands for: the GS1 GTIN if any, else its ASCII digits."""
    gtin = gs1_gtin(raw)
    return gtin if gtin is not None else _NON_DIGITS.sub("", raw)


def normalize_code(raw: str | None) -> str | None:
    """Product Opener's normalized code of ``raw`` (None stays None).

    Total on strings: an invalid code still gets a normalized form (``"12"`` → ``"00000012"``) so that audits
    can show what it would have become; check :func:`is_valid_code` before using it.
    """
    if raw is None:
        return None
    return normalize_barcode(code_digits(raw))


def is_valid_code(raw: str | None) -> bool:
    """True when ``raw``'s digit string has 4 to 24 digits."""
    if raw is None:
        return False
    return MIN_DIGITS <= len(code_digits(raw)) <= MAX_DIGITS


def validated_code(raw: str | None) -> str:
    """The normalized code of ``raw`` under Product Opener's lenient rules, or :class:`InvalidBarcodeError`.

    For codes Product Opener already stored (the dump, our own store); codes from outside go through
    :func:`strict_code`.
    """
    if not is_valid_code(raw):
        raise InvalidBarcodeError(f"invalid barcode: {raw!r}")
    normalized = normalize_code(raw)
    assert normalized is not None  # is_valid_code(None) is False
    return normalized


def code_problem(raw: str | None) -> str | None:
    """Why ``raw``, a code from outside, is refused by the strict check (None when it is accepted).

    Accepted: ASCII digits whose count makes a valid code, or a well-formed GS1 form (bracketed or raw element
    string starting with AI 01, GS1 Digital Link URL) whose GTIN has a valid check digit, with nothing else
    around them but ASCII whitespace. Any other character — a letter, a quote, a control or non-ASCII
    character, a Unicode digit — refuses the code: reducing it to its digits could name another product.
    """
    if raw is None:
        return "no code"
    text = raw.strip(_ASCII_SPACE)
    if not _ASCII_DIGITS.fullmatch(text):
        form = text.translate(_FNC1)
        shaped = (
            _STRICT_GS1_BRACKETED.fullmatch(form)
            or _STRICT_GS1_RAW.fullmatch(form)
            or _STRICT_DIGITAL_LINK.fullmatch(form)
        )
        if not shaped or gs1_gtin(text) is None:
            return "characters other than digits (and not a GS1 element string or Digital Link URL)"
    if not is_valid_code(text):
        return f"{MIN_DIGITS} to {MAX_DIGITS} digits expected"
    return None


def is_strict_code(raw: str | None) -> bool:
    """True when ``raw`` passes the strict check for codes from outside (see :func:`code_problem`)."""
    return code_problem(raw) is None


def strict_code(raw: str | None) -> str:
    """The normalized code of ``raw``, a code from outside, or :class:`InvalidBarcodeError`.

    The strict twin of :func:`validated_code`: same normalization for every code it accepts, but a code with
    stray characters is refused instead of being reduced to its digits. Use it where codes enter the pipeline
    (events, command-line arguments, flow parameters); the dump keeps Product Opener's lenient rules.
    """
    problem = code_problem(raw)
    if problem is not None:
        raise InvalidBarcodeError(f"invalid barcode {raw!r}: {problem}")
    assert raw is not None
    return validated_code(raw.strip(_ASCII_SPACE))


def code_path(raw: str | None) -> str:
    """Product folder of a plain raw code (no owner): ``000/009/972/3824``, or ``"invalid"``."""
    if not is_valid_code(raw):
        return INVALID_PATH
    return "/".join(split_barcode(normalize_code(raw) or ""))


def split_owner(product_id: str) -> tuple[str | None, str]:
    """Split a pro-platform product id ``org-xyz/CODE`` into owner and code; plain codes have no owner.

    A GS1 Digital Link URL contains slashes but is a code, not an owner id.
    """
    if _URL.match(product_id) or "/" not in product_id:
        return None, product_id
    owner, code = product_id.split("/", 1)
    return owner, code


def split_code(product_id: str | None) -> str:
    """Product folder of a code or ``owner/code`` product id: ``000/009/972/3824``, or ``"invalid"``.

    The code is normalized, left-padded to 13 digits and split 3/3/3/rest (SDK ``split_barcode``); a
    pro-platform owner stays the first folder. Invalid codes and malformed owners give ``"invalid"``, the
    folder Product Opener moves such products to.
    """
    if product_id is None:
        return INVALID_PATH
    owner, code = split_owner(product_id)
    if owner is not None and not _OWNER.fullmatch(owner):
        return INVALID_PATH
    path = code_path(code)
    if owner is None or path == INVALID_PATH:
        return path
    return f"{owner}/{path}"


def legacy_split_code(raw: str) -> str:
    """Folder of ``raw`` under the pre-migration layout (Robotoff before July 2023, Product Opener before
    October 2024): the code as stored, without padding, split 3/3/3/rest only when it has 9+ digits.

    Used for fallback look-ups of images that were never moved and to audit old ``source_image`` values.
    """
    if not is_valid_code(raw):
        return INVALID_PATH
    digits = code_digits(raw)
    match = _LEGACY_SPLIT.fullmatch(digits)
    if match is None:
        return digits
    return "/".join(part for part in match.groups() if part)


def _checked_image_id(image_id: str | int, size: str | None) -> str:
    image_id = str(image_id)
    if not _IMAGE_ID.fullmatch(image_id):
        raise InvalidBarcodeError(f"invalid image id: {image_id!r}")
    if size is None:
        return image_id
    if size not in _IMAGE_SIZES:
        raise InvalidBarcodeError(f"invalid image size: {size!r}")
    return f"{image_id}.{size}"


def _checked_product_id(product_id: str) -> str:
    """A normalized product id (``code`` or ``owner/code``) ready for the SDK's path helpers."""
    owner, code = split_owner(product_id)
    if split_code(product_id) == INVALID_PATH:
        raise InvalidBarcodeError(f"invalid barcode: {product_id!r}")
    normalized = validated_code(code)
    return f"{owner}/{normalized}" if owner else normalized


def image_path(product_id: str, image_id: str | int, size: str | None = None) -> str:
    """Path of an image below ``/images/products``: ``/000/009/972/3824/1.jpg`` (``1.400.jpg`` sized)."""
    return generate_image_path(_checked_product_id(product_id), _checked_image_id(image_id, size))


def ocr_path(product_id: str, image_id: str | int) -> str:
    """Path of an image's OCR JSON below ``/images/products``: ``/000/009/972/3824/1.json``."""
    return generate_json_ocr_path(_checked_product_id(product_id), _checked_image_id(image_id, None))


def legacy_image_path(raw: str, image_id: str | int, size: str | None = None) -> str:
    """Pre-migration image path of ``raw`` (see :func:`legacy_split_code`)."""
    folder = legacy_split_code(raw)
    if folder == INVALID_PATH:
        raise InvalidBarcodeError(f"invalid barcode: {raw!r}")
    return f"/{folder}/{_checked_image_id(image_id, size)}.jpg"


def _images_base(flavor: Flavor | str, settings: Settings | None) -> str:
    settings = settings or get_settings()
    return f"{settings.flavor_urls(flavor).images}/images/products"


def image_url(
    product_id: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    *,
    size: str | None = None,
    settings: Settings | None = None,
) -> str:
    """URL of an image on the flavor's image server (base URL from the settings)."""
    return _images_base(flavor, settings) + image_path(product_id, image_id, size)


def ocr_url(
    product_id: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    *,
    settings: Settings | None = None,
) -> str:
    """URL of an image's OCR JSON on the flavor's image server."""
    return _images_base(flavor, settings) + ocr_path(product_id, image_id)


def legacy_image_url(
    raw: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    *,
    size: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Pre-migration image URL, for fallback look-ups of images stored under the old layout."""
    return _images_base(flavor, settings) + legacy_image_path(raw, image_id, size)


def legacy_ocr_url(
    raw: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    *,
    settings: Settings | None = None,
) -> str:
    """Pre-migration URL of an image's OCR JSON (fallback for files that were never moved)."""
    return _images_base(flavor, settings) + legacy_image_path(raw, image_id).removesuffix(".jpg") + ".json"
