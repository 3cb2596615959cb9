"""Google Cloud Vision responses for synthetic images, laid out from text blocks.

An image is described by blocks of text lines (a brand line, an ingredient list, a nutrition table…). The
builder lays the lines out top to bottom on the image's full size and produces what Google Cloud Vision
returns: ``fullTextAnnotation`` (pages → blocks → paragraphs → words → symbols, with detected breaks,
detected languages and bounding boxes) and ``textAnnotations`` (the whole text, then one entry per word).

Breaks follow Cloud Vision: a space after each word, ``EOL_SURE_SPACE`` at a line end inside a paragraph and
``LINE_BREAK`` at the paragraph's end, so the SDK's text reconstruction (``OCRResult``) gives back exactly the
lines written. Rotated images (``left``, ``right``, ``down``) rotate every vertex, which is what Robotoff's
image-orientation predictor reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHAR_W = 14
LINE_H = 30
MARGIN = 20
ORIENTATIONS = ("up", "left", "right", "down")


@dataclass
class OcrImage:
    """Text blocks of one image and where they land."""

    image_id: str
    width: int  # full size of the image as stored (after rotation)
    height: int
    lang: str
    orientation: str = "up"
    blocks: list[list[str]] = field(default_factory=list)


def _upright_size(image: OcrImage) -> tuple[int, int]:
    if image.orientation in ("left", "right"):
        return image.height, image.width
    return image.width, image.height


PolyFn = Callable[[int, int, int, int], dict[str, Any]]


def _poly_maker(image: OcrImage) -> PolyFn:
    """A function giving the bounding polygon of an upright box, mapped to the stored (rotated) image.

    Vertices stay in text order (top-left, top-right, bottom-right, bottom-left of the text), so a rotated
    image has its topmost edge elsewhere: that is what orientation detection reads.
    """
    width, height = _upright_size(image)
    orientation = image.orientation

    def point(x: int, y: int) -> dict[str, int]:
        if orientation == "left":
            return {"x": y, "y": width - x}
        if orientation == "right":
            return {"x": height - y, "y": x}
        if orientation == "down":
            return {"x": width - x, "y": height - y}
        return {"x": x, "y": y}

    def poly(x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
        return {"vertices": [point(x0, y0), point(x1, y0), point(x1, y1), point(x0, y1)]}

    return poly


def _symbols(poly: PolyFn, word: str, x: int, y: int, lang_prop: dict, brk: str) -> list[dict]:
    bottom = y + LINE_H - 6
    symbols = [
        {
            "property": lang_prop,
            "boundingBox": poly(x + i * CHAR_W, y, x + (i + 1) * CHAR_W, bottom),
            "text": char,
        }
        for i, char in enumerate(word)
    ]
    symbols[-1]["property"] = {**lang_prop, "detectedBreak": {"type": brk}}
    return symbols


def build_response(image: OcrImage) -> dict[str, Any]:
    """The Cloud Vision ``{"responses": [...]}`` document of ``image``."""
    lang_prop = {"detectedLanguages": [{"languageCode": image.lang}]}
    poly = _poly_maker(image)
    width, _height = _upright_size(image)
    max_chars = max(8, (width - 2 * MARGIN) // CHAR_W)
    y = MARGIN
    blocks = []
    word_annotations = []
    text_lines: list[str] = []
    for block_lines in image.blocks:
        lines = [_wrap(line, max_chars) for line in block_lines]
        flat = [part for parts in lines for part in parts]
        words_json = []
        block_y0 = y
        block_x1 = MARGIN
        for line_index, line in enumerate(flat):
            x = MARGIN
            words = line.split(" ")
            for word_index, word in enumerate(words):
                if not word:
                    continue
                last_in_line = word_index == len(words) - 1
                if not last_in_line:
                    brk = "SPACE"
                elif line_index == len(flat) - 1:
                    brk = "LINE_BREAK"
                else:
                    brk = "EOL_SURE_SPACE"
                x1 = x + len(word) * CHAR_W
                box = poly(x, y, x1, y + LINE_H - 6)
                words_json.append(
                    {
                        "property": lang_prop,
                        "boundingBox": box,
                        "symbols": _symbols(poly, word, x, y, lang_prop, brk),
                    }
                )
                word_annotations.append({"description": word, "boundingPoly": box})
                block_x1 = max(block_x1, x1)
                x = x1 + CHAR_W
            text_lines.append(line)
            y += LINE_H
        if not words_json:
            continue
        block_box = poly(MARGIN, block_y0, block_x1, y - 6)
        blocks.append(
            {
                "property": lang_prop,
                "boundingBox": block_box,
                "paragraphs": [{"property": lang_prop, "boundingBox": block_box, "words": words_json}],
                "blockType": "TEXT",
            }
        )
        y += LINE_H // 2
    text = "\n".join(text_lines) + ("\n" if text_lines else "")
    page = {
        "property": {"detectedLanguages": [{"languageCode": image.lang, "confidence": 0.9}]},
        "width": image.width,
        "height": image.height,
        "blocks": blocks,
    }
    full_box = poly(MARGIN, MARGIN, max(MARGIN + 1, width - MARGIN), max(MARGIN + 1, y))
    text_annotations = (
        [{"locale": image.lang, "description": text, "boundingPoly": full_box}, *word_annotations]
        if text
        else []
    )
    response: dict[str, Any] = {"textAnnotations": text_annotations}
    if blocks:
        response["fullTextAnnotation"] = {"pages": [page], "text": text}
    return {"responses": [response]}


def required_height(blocks: list[list[str]], width: int) -> int:
    """Upright height needed to lay out ``blocks`` at ``width`` (images are sized with it)."""
    max_chars = max(8, (width - 2 * MARGIN) // CHAR_W)
    lines = sum(len(_wrap(line, max_chars)) for block in blocks for line in block)
    return 2 * MARGIN + lines * LINE_H + len(blocks) * (LINE_H // 2)


def _wrap(line: str, max_chars: int) -> list[str]:
    """Split a line into lines that fit the image width, on spaces (a word is never cut)."""
    parts: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts
