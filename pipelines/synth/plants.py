"""Facts planted on purpose, so that the generator can write the ground truth a correct predictor must find.

In product names: brands, labels and weights written as Robotoff's matchers read them. In OCR texts:
brands, labels, stores, packager codes, expiry dates, nutrient mentions (fiber) and ``NUTRI-SCORE``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pipelines.synth.ocr import OcrImage, required_height
from pipelines.synth.vocab import Vocabulary
from pipelines.synth.wording import (
    EXPIRY_PROMPT,
    INGREDIENT_PROMPT,
    NUTRITION_WORDS,
    STORAGE_LINES,
    WEIGHT_PROMPT,
)

EU_FR_DEPTS = ["29", "56", "22", "35", "44", "85", "49", "72", "59", "62", "2A", "69"]

DATE_YEARS = range(2021, 2026)  # inside Robotoff's [2015, 2025] window and ours (current year ±10)


@dataclass(frozen=True)
class PlantRates:
    """Probabilities of each planted fact (per product for names, per OCR image for OCR facts)."""

    name_label: float = 0.08
    name_brand: float = 0.10
    name_weight: float = 0.15
    ocr_label: float = 0.30
    ocr_brand: float = 0.30
    ocr_store: float = 0.15
    ocr_packager: float = 0.15
    ocr_expiry: float = 0.20
    ocr_nutrition: float = 0.45  # a nutrition table on the image
    ocr_fiber: float = 0.70  # … which mentions fiber
    ocr_nutriscore: float = 0.15
    rotated: float = 0.08


def fill_ocr(
    image: OcrImage,
    vocab: Vocabulary,
    plants: PlantRates,
    selected_ids: dict[str, str],
    ingredients: list[str],
    fiber_known: bool,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Text blocks of one image, with the facts planted in them."""
    lang = image.lang
    words_lang = lang if lang in NUTRITION_WORDS else "en"
    facts: list[dict[str, Any]] = []
    where = {"source": "ocr", "image_id": image.image_id}
    blocks: list[list[str]] = []

    def fact(**kwargs: Any) -> None:
        facts.append({**kwargs, **where})

    if rng.random() < plants.ocr_brand:
        tag, name = rng.choice(vocab.brands)
        blocks.append([name])
        fact(type="brand", value=name, value_tag=tag)
    blocks.append([f"{INGREDIENT_PROMPT.get(lang, 'Ingredients')}: {', '.join(ingredients)}."])
    if rng.random() < plants.ocr_label:
        tag, phrase = rng.choice(vocab.label_phrases)
        blocks.append([phrase])
        fact(type="label", value_tag=tag, text=phrase)
    if rng.random() < plants.ocr_nutrition:
        heading, labels = NUTRITION_WORDS[words_lang]
        kcal = rng.randint(50, 550)
        lines = [heading, f"{labels['energy']} {round(kcal * 4.184)} kJ / {kcal} kcal"]
        for key in ("fat", "saturated-fat", "carbohydrates", "sugars"):
            lines.append(f"{labels[key]} {rng.randint(1, 40)},{rng.randint(0, 9)} g")
        if rng.random() < plants.ocr_fiber:
            value = f"{rng.randint(1, 12)},{rng.randint(0, 9)}"
            lines.append(f"{labels['fiber']} {value} g")
            fact(type="nutrient_mention", value="fiber", text=labels["fiber"])
            fact(
                type="nutrient",
                value="fiber",
                nutrient_value=value.replace(",", "."),
                unit="g",
                raw=f"{labels['fiber']} {value} g",
            )
            if not fiber_known:
                selected = selected_ids.get("nutrition") == image.image_id
                facets = ["en:missing-nutrition-facts-fibers-present-on-photos"]
                if selected:
                    facets.append("en:missing-nutrition-facts-fibers-present-on-nutrition-photos")
                fact(type="quality_facet", value=facets)
        lines.append(f"{labels['proteins']} {rng.randint(1, 25)},{rng.randint(0, 9)} g")
        lines.append(f"{labels['salt']} {rng.randint(0, 2)},{rng.randint(0, 9)}{rng.randint(0, 9)} g")
        blocks.append(lines)
    if rng.random() < plants.ocr_nutriscore:
        blocks.append(["NUTRI-SCORE"])
        fact(type="label", value_tag="en:nutriscore", text="NUTRI-SCORE")
    if rng.random() < plants.ocr_packager:
        blocks.append([_packager(vocab, rng, fact)])
    if rng.random() < plants.ocr_expiry:
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.choice(DATE_YEARS)
        long_form = rng.random() < 0.7
        raw = f"{day:02d}/{month:02d}/{year if long_form else year % 100:02d}"
        blocks.append([f"{EXPIRY_PROMPT.get(words_lang, 'Best before')}: {raw}"])
        fact(type="expiration_date", value=f"{year}-{month:02d}-{day:02d}", raw=raw)
    if rng.random() < plants.ocr_store:
        store = rng.choice(vocab.stores)
        blocks.append([store])
        fact(type="store", value=store, value_tag=_store_tag(store))
    blocks.append([rng.choice(STORAGE_LINES.get(words_lang, STORAGE_LINES["en"]))])
    rng.shuffle(blocks)
    image.blocks = blocks
    upright_w = image.height if image.orientation in ("left", "right") else image.width
    needed = required_height(blocks, upright_w)
    if image.orientation in ("left", "right"):
        image.width = max(image.width, needed)
    else:
        image.height = max(image.height, needed)
    fact(type="image_orientation", value=image.orientation)
    return facts


def _packager(vocab: Vocabulary, rng: random.Random, fact: Any) -> str:
    """A packager code of one of three matchers, planted as a fact; returns the text as printed."""
    kind = rng.choice(["fr_emb", "eu_fr", "fishing"])
    if kind == "fr_emb":
        raw = f"EMB {rng.randint(10000, 99999)}{rng.choice(['', 'A', 'B', 'C'])}"
        fact(type="packager_code", value=raw, matcher="fr_emb")
        return raw
    if kind == "eu_fr":
        dept, a, b = rng.choice(EU_FR_DEPTS), rng.randint(0, 999), rng.randint(0, 999)
        raw = f"FR {dept}.{a:03d}.{b:03d} CE"
        fact(type="packager_code", value=f"FR {dept}.{a:03d}.{b:03d} EC", matcher="eu_fr")
        return raw
    code = rng.choice(vocab.fishing_codes)
    fact(type="packager_code", value=code.upper(), matcher="fishing")
    return code


def _store_tag(name: str) -> str:
    return name.lower().replace(" & ", "-").replace(" ", "-").replace("'", "-")


def weight_text(rng: random.Random, lang: str, value: int, unit: str) -> tuple[str, dict[str, Any]]:
    """A weight written as one of Robotoff's product_weight matchers reads it, with the expected value."""
    normalized = {"g": 1, "ml": 1, "kg": 1000, "cl": 10, "l": 1000}[unit] * value
    base = {"g": "g", "kg": "g", "ml": "ml", "cl": "ml", "l": "ml"}[unit]
    matcher = rng.choice(["with_mention", "with_ending_mention", "multi_packaging"])
    if matcher == "multi_packaging" and normalized > 1000:
        matcher = "with_mention"  # keep packs small: Robotoff rejects a normalized weight of 10 kg or more
    if matcher == "with_mention":
        text = f"{WEIGHT_PROMPT.get(lang, 'Net weight')}: {value} {unit}"
        fact = {"type": "product_weight", "value": f"{value} {unit}", "matcher": matcher}
    elif matcher == "with_ending_mention":
        text = f"{value} {unit} net"
        fact = {"type": "product_weight", "value": f"{value} {unit}", "matcher": matcher}
    else:
        count = rng.choice([2, 4, 6, 8, 12])
        text = f"{count} x {value} {unit}"
        fact = {
            "type": "product_weight",
            "value": f"{count} x {value} {unit}",
            "matcher": matcher,
            "count": count,
        }
    fact.update({"normalized_value": normalized, "normalized_unit": base})  # of one unit, for packs
    return text, fact
