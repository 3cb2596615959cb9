"""The product's images in either layout: legacy keys (``front_fr``…) or the new ``uploaded``/``selected``.

Each uploaded image becomes an ``OcrImage`` whose text ``plants.py`` fills later; a share of them is rotated
so that the orientation predictor has something to find.
"""

from __future__ import annotations

import random
from typing import Any

from pipelines.synth.fields import CREATORS
from pipelines.synth.ocr import ORIENTATIONS, OcrImage

IMAGE_SIZES = [(3024, 4032), (1536, 2048), (1200, 1600), (2448, 3264), (960, 1280)]

# Selection parameters of an uncropped selected image, as Product Opener writes them.
NO_CROP = {"normalize": None, "white_magic": None, "x1": "-1", "y1": "-1", "x2": "-1", "y2": "-1"}


def images(
    doc: dict[str, Any],
    new_schema: bool,
    lang: str,
    created: int,
    modified: int,
    rng: random.Random,
    *,
    image_rate: float,
    rotated_rate: float,
) -> tuple[list[OcrImage], dict[str, str]]:
    """The product's images in the legacy or the new layout; returns its OCR images and selected ids."""
    if rng.random() >= image_rate:
        return [], {}
    count = min(40, max(1, int(rng.expovariate(1 / 3.5)) + 1))
    uploaded: dict[str, dict[str, Any]] = {}
    ocr_images = []
    for imgid in range(1, count + 1):
        width, height = rng.choice(IMAGE_SIZES)
        orientation = rng.choice(ORIENTATIONS[1:]) if rng.random() < rotated_rate else "up"
        if orientation in ("left", "right"):
            width, height = height, width
        t = rng.randint(created, modified)
        uploaded[str(imgid)] = {
            "uploaded_t": rng.choices([t, str(t)], [66, 34])[0] if not new_schema else t,
            "uploader": rng.choice(CREATORS),
            "sizes": image_sizes(width, height),
        }
        ocr_images.append(OcrImage(str(imgid), width, height, lang, orientation))
    selected: dict[str, dict[str, Any]] = {}
    for key in ("front", "ingredients", "nutrition", "packaging"):
        if rng.random() < {"front": 0.8, "ingredients": 0.55, "nutrition": 0.6, "packaging": 0.1}[key]:
            imgid = str(rng.randint(1, count))
            sizes = uploaded[imgid]["sizes"]
            rev = rng.randint(2, 30)
            selected[key] = {
                lang: {
                    "imgid": imgid,
                    "rev": str(rev),
                    "sizes": sizes,
                    "generation": {
                        "angle": rng.choice([0, 0, 0, 90]),
                        "geometry": "0x0-0-0",
                        **NO_CROP,
                        "coordinates_image_size": "full",
                    },
                }
            }
    if new_schema:
        doc["images"] = {"uploaded": uploaded, "selected": selected}
    else:
        legacy: dict[str, Any] = dict(uploaded)
        for key, by_lang in selected.items():
            for lg, data in by_lang.items():
                angle = data["generation"]["angle"]
                legacy[f"{key}_{lg}"] = {
                    "imgid": data["imgid"],
                    "rev": data["rev"],
                    "sizes": data["sizes"],
                    "angle": rng.choice([angle, str(angle), None]) if angle == 0 else angle,
                    "geometry": "0x0--10--10",
                    **NO_CROP,
                }
        doc["images"] = legacy
    doc["max_imgid"] = str(count) if rng.random() < 0.997 else count
    doc["last_image_t"] = max(int(u["uploaded_t"]) for u in uploaded.values())
    doc["last_image_dates_tags"] = ["2024-01-01", "2024-01", "2024"]
    return ocr_images, {k: v[lang]["imgid"] for k, v in selected.items()}


def image_sizes(width: int, height: int) -> dict[str, dict[str, int]]:
    """The ``sizes`` entry of an image: full size and the 100/200/400 px thumbnails."""
    sizes = {"full": {"w": width, "h": height}}
    for size in (100, 200, 400):
        scale = size / max(width, height)
        sizes[str(size)] = {"w": max(1, round(width * scale)), "h": max(1, round(height * scale))}
    return sizes
