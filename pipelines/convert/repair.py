"""Salvage of dump lines whose only fault is in their text, not in their structure.

DuckDB's JSON reader (yyjson) refuses a whole line for a defect inside one string value: a byte sequence that
is not UTF-8, a lone UTF-16 surrogate escape (``"\\ud800"``, which Perl and JavaScript encoders happily
write), a raw control character, an unknown escape (``"\\x"``). Quarantining the line would drop a product
for one bad character (``docs/reliability.md``, F7). :func:`repair_line` fixes exactly those defects and
nothing else:

- bytes that are not UTF-8 become U+FFFD (each maximal invalid sequence, as Python's ``errors="replace"``);
- inside a string: a lone surrogate escape, an unknown escape or a ``\\u`` with fewer than four hex digits
  becomes U+FFFD; a raw control character becomes its ``\\u00XX`` escape (its value is known, nothing is
  lost).

Strings are found by JSON's own lexical rule — outside a string a double quote always opens one, inside it
an unescaped double quote closes it —, so no structure is ever guessed: a line that is still not a JSON
object afterwards (truncated, an array, a stray byte between two members) stays quarantined. The conversion
calls it only for lines DuckDB has refused (``BatchTransformer``), so good lines cost nothing.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

# A whole string token: a quote, then characters other than quote and backslash, or a backslash and any one
# character, up to the closing quote. An unterminated string does not match and is left alone.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Inside a string, in this order at each position: a valid surrogate pair, a lone surrogate, any other
# \uXXXX, a \u with too few hex digits, a valid escape, an unknown escape, a raw control character.
_IN_STRING = re.compile(
    r"(?P<pair>\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?P<lone>\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
    r"|(?P<unicode>\\u[0-9a-fA-F]{4})"
    r"|(?P<short>\\u[0-9a-fA-F]{0,3})"
    r'|(?P<escape>\\["\\/bfnrt])'
    r"|(?P<unknown>\\.)"
    r"|(?P<control>[\x00-\x1f])",
    re.DOTALL,
)


def repair_line(raw: bytes) -> bytes | None:
    """``raw`` (one dump line) with its text defects repaired, or None when there is nothing to repair."""
    text = raw.decode("utf-8", errors="replace")
    parts: list[str] = []
    at = 0
    # Left to right, as a JSON lexer: outside strings up to the next quote, then the string it opens. An
    # unterminated string ends the scan (the line is truncated; what follows is left as it is), so the work
    # stays linear in the line's length whatever it holds.
    while (start := text.find('"', at)) >= 0:
        token = _STRING.match(text, start)
        if token is None:
            break
        parts.append(text[at:start])
        parts.append(_IN_STRING.sub(_repair_sequence, token.group()))
        at = token.end()
    parts.append(text[at:])
    out = "".join(parts).encode("utf-8")
    return None if out == raw else out


def _repair_sequence(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in ("pair", "unicode", "escape"):
        return match.group()
    if kind == "control":
        return f"\\u{ord(match.group()):04x}"
    return REPLACEMENT  # lone, short, unknown
