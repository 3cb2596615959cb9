"""The synthetic dump's barcode mix: every kind of code the real dump holds, without accidental duplicates.

Kinds (default shares in :data:`DEFAULT_MIX`): EAN13 (most), zero-padded UPC-12, EAN8, EAN8 with extra
leading zeros, short 4–7 digit codes padded to 8, 9–12 digit unpadded codes, 14-digit GTINs, 1–3 digit bogus
codes, and conflict pairs — two distinct raw codes that normalize to the same code.

Each kind owns a disjoint region of the *normalized* code space (by length, leading zeros and first
significant digit), and inside its region a code is a bijective function of the product's rank among products
of that kind. So two products never share a normalized code unless they are a planted conflict pair (bogus
1–3 digit codes excepted: there are only 1,110 of them), and no set of seen codes is needed: memory stays
constant whatever the number of products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openfoodfacts.barcode import calculate_check_digit

from pipelines.common.errors import OffpipeError

KINDS = (
    "ean13",
    "upc_padded",
    "ean8",
    "ean8_padded",
    "short",
    "unpadded",
    "gtin14",
    "bogus",
    "conflict",
)
DEFAULT_MIX: dict[str, float] = {
    "ean13": 0.80,
    "upc_padded": 0.06,
    "ean8": 0.035,
    "ean8_padded": 0.015,
    "short": 0.01,
    "unpadded": 0.04,
    "gtin14": 0.01,
    "bogus": 0.005,
    "conflict": 0.025,  # share of products that belong to a conflict pair
}
CONFLICT_PARTNER = "conflict_b"

# GS1 prefixes used for ordinary EAN13 (none starts with 0, 1 or 2; 379 is kept for conflict pairs).
_EAN13_PREFIXES = [
    "301",
    "303",
    "305",
    "307",
    "309",
    "311",
    "320",
    "330",
    "340",
    "350",
    "360",
    "376",
    "400",
    "401",
    "405",
    "406",
    "407",
    "408",
    "409",
    "410",
    "419",
    "420",
    "429",
    "500",
    "501",
    "502",
    "506",
    "509",
    "540",
    "541",
    "560",
    "570",
    "590",
    "599",
    "690",
    "760",
    "761",
    "800",
    "801",
    "802",
    "803",
    "805",
    "807",
    "840",
    "841",
    "842",
    "843",
    "870",
    "871",
    "872",
    "878",
    "890",
    "930",
    "940",
]
_CONFLICT_PREFIX = "379"
_MULTIPLIER = 982_451_653  # prime, so coprime with every power of 10: x -> x*M + B mod 10^k is a bijection


class MixError(OffpipeError, ValueError):
    """A barcode mix that does not describe a distribution over the known kinds."""


def parse_mix(text: str | None) -> dict[str, float]:
    """``"ean13=0.7,ean8=0.2,bogus=0.1"`` → shares; kinds not named keep their default weight."""
    mix = dict(DEFAULT_MIX)
    if text:
        for item in text.split(","):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in KINDS:
                raise MixError(f"unknown barcode kind {name!r}; kinds: {', '.join(KINDS)}")
            try:
                mix[name] = float(value)
            except ValueError:
                raise MixError(f"bad share for {name}: {value!r}") from None
            if mix[name] < 0:
                raise MixError(f"negative share for {name}")
    total = sum(mix.values())
    if total <= 0:
        raise MixError("the barcode mix is empty")
    return {name: share / total for name, share in mix.items()}


def _perm(x: int, digits: int) -> str:
    """A bijection of [0, 10^digits) that scatters consecutive ranks, as a zero-padded string."""
    modulus = 10**digits
    return f"{(x * _MULTIPLIER + 7_654_321) % modulus:0{digits}d}"


def _with_check(payload: str) -> str:
    return payload + calculate_check_digit(payload + "0")


@dataclass(frozen=True)
class Code:
    raw: str
    kind: str


def make_code(kind: str, rank: int) -> Code:
    """The raw code of the ``rank``-th product of ``kind`` (for a conflict pair, both share the rank)."""
    if kind == "ean13":
        prefix = _EAN13_PREFIXES[rank % len(_EAN13_PREFIXES)]
        return Code(_with_check(prefix + _perm(rank // len(_EAN13_PREFIXES), 9)), kind)
    if kind == "upc_padded":
        upc = _with_check("678"[rank % 3] + _perm(rank // 3, 10))
        return Code("0" + upc, kind)
    if kind == "ean8":
        return Code(_with_check("2459"[rank % 4] + _perm(rank // 4, 6)), kind)
    if kind == "ean8_padded":
        ean8 = _with_check("3678"[rank % 4] + _perm(rank // 4, 6))
        return Code(("00000" if rank % 2 == 0 else "000000") + ean8, kind)
    if kind == "short":
        return Code(_short_code(rank), kind)
    if kind == "unpadded":
        length = 9 + rank % 4
        first = "12459"[(rank // 4) % 5] if length == 12 else "123456789"[(rank // 4) % 9]
        serial = rank // (20 if length == 12 else 36)
        return Code(first + _perm(serial, length - 1), kind)
    if kind == "gtin14":
        return Code(_with_check("12345678"[rank % 8] + _perm(rank // 8, 12)), kind)
    if kind == "bogus":
        length = 1 + rank % 3
        return Code(str((rank * 7 + 3) % 10**length).zfill(length) if length > 1 else str(rank % 10), kind)
    if kind in ("conflict", CONFLICT_PARTNER):
        code13 = _with_check(_CONFLICT_PREFIX + _perm(rank, 9))
        if kind == "conflict":
            return Code(code13, kind)
        return Code(("0" if rank % 2 == 0 else "00") + code13, kind)
    raise MixError(f"unknown barcode kind {kind!r}")


def _short_code(rank: int) -> str:
    """4–7 significant digits, written zero-padded to 8 (as in the real dump) or bare."""
    length = 4 + rank % 4
    serial = rank // 4
    capacity = 9 * 10 ** (length - 1)
    if serial >= capacity // 9 * 9 and length < 7:
        # This length is used up: continue in the upper half of the 7-digit region, keyed by the rank.
        length, serial = 7, 4_500_000 + rank
    elif length == 7:
        serial %= 4_500_000
    digits = str(10 ** (length - 1) + serial % capacity)
    return digits.zfill(8) if rank % 10 < 7 else digits


def assign_kinds(mix: Mapping[str, float], rng_values: list[float]) -> list[str]:
    """Kinds of a chunk of products, from one uniform draw per product; conflicts come as adjacent pairs.

    A conflict draw also takes the next slot, so it is drawn with probability q = s / (2 - s) for a share s
    of products in pairs; the other kinds keep their relative shares.
    """
    names = list(mix)
    pair_share = mix.get("conflict", 0.0)
    q = pair_share / (2 - pair_share)
    others = sum(share for name, share in mix.items() if name != "conflict")
    bounds = []
    acc = 0.0
    for name in names:
        acc += q if name == "conflict" else mix[name] * (1 - q) / others if others else 0.0
        bounds.append(acc)
    kinds = []
    for value in rng_values:
        for name, bound in zip(names, bounds, strict=True):
            if value < bound:
                kinds.append(name)
                break
        else:
            kinds.append(names[-1])
    # A conflict needs a partner right after it; a half pair at the chunk's end becomes an EAN13.
    fixed: list[str] = []
    index = 0
    while index < len(kinds):
        if kinds[index] == "conflict":
            if index + 1 < len(kinds):
                fixed += ["conflict", CONFLICT_PARTNER]
                index += 2
                continue
            fixed.append("ean13")
        else:
            fixed.append(kinds[index])
        index += 1
    return fixed
