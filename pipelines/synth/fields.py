"""Product fields built by hand: languages, ingredients, categories, labels, countries, quantity, history.

Each function writes one group of fields into the document, drawing from the builder's ``rng`` in a fixed
order (the same seed must give the same bytes). Presence rates and JSON types follow the real dump's
profile (``offpipe synth --profile``), quirks included.
"""

from __future__ import annotations

import random
from typing import Any

from pipelines.synth.longtail import rand_token
from pipelines.synth.vocab import LANGS, Vocabulary

CREATORS = [
    "kiliweb",
    "openfoodfacts-contributors",
    "org-database-usda",
    "usda-ndb-import",
    "yuka.sY2b0xO6T85zoF3NwEKvlmZ6",
    "smoothie-app",
    "inf",
    "prepperapp",
    "foodrepo",
    "stephane",
]


def languages(doc: dict[str, Any], lang: str, rng: random.Random) -> None:
    """The language fields: the product's language, sometimes a second one."""
    names = {
        "en": "english",
        "fr": "french",
        "de": "german",
        "es": "spanish",
        "it": "italian",
        "nl": "dutch",
        "pt": "portuguese",
        "pl": "polish",
    }
    extra = [lang] + ([rng.choice(LANGS)] if rng.random() < 0.2 else [])
    langs = list(dict.fromkeys(extra))
    doc["languages_tags"] = [f"en:{names[lg]}" for lg in langs] + [f"en:{len(langs)}"]
    doc["languages_codes"] = {lg: rng.randint(1, 6) for lg in langs}
    doc["languages"] = {f"en:{names[lg]}": rng.randint(1, 6) for lg in langs}
    doc["languages_hierarchy"] = [f"en:{names[lg]}" for lg in langs]


def ingredients(
    doc: dict[str, Any], vocab: Vocabulary, signature: list[str], lang: str, rng: random.Random
) -> list[str]:
    """The ingredient fields: the category's ``signature`` plus random ones; returns their names."""
    ids = signature + rng.sample(vocab.ingredient_pool, k=min(len(vocab.ingredient_pool), rng.randint(2, 9)))
    ids = list(dict.fromkeys(ids))
    rng.shuffle(ids)
    names = [vocab.ingredients.name(i, lang) for i in ids]
    text = ", ".join(names)
    if rng.random() < 0.918:
        doc["ingredients_text"] = text
        doc[f"ingredients_text_{lang}"] = text
        doc["ingredients_text_with_allergens"] = text
        if rng.random() < 0.95:
            doc[f"ingredients_text_with_allergens_{lang}"] = text
    if rng.random() < 0.898:
        percent = 100.0
        items = []
        for rank, (node, label) in enumerate(zip(ids, names, strict=True)):
            share = (
                round(percent / (len(ids) - rank) * rng.uniform(0.8, 1.6), 2)
                if rank < len(ids) - 1
                else percent
            )
            share = min(share, percent)
            percent = round(percent - share, 2)
            items.append(
                {
                    "id": node,
                    "text": label,
                    "is_in_taxonomy": 1,
                    "percent_estimate": share,
                    "percent_min": round(share / 2, 2),
                    "percent_max": min(100, round(share * 2, 2)),
                    "vegan": rng.choice(["yes", "no", "maybe"]),
                    "vegetarian": rng.choice(["yes", "maybe"]),
                    "ciqual_food_code": str(rng.randint(10000, 99999)),
                }
            )
        doc["ingredients"] = items
        doc["ingredients_tags"] = ids
        doc["ingredients_hierarchy"] = ids
        doc["ingredients_original_tags"] = ids
        n = len(ids)
        doc["ingredients_n"] = rng.choices([n, float(n), str(n)], [0.75, 0.21, 0.04])[0]
        doc["known_ingredients_n"] = n
        unknown = rng.choice([0, 0, 0, 1])
        doc["unknown_ingredients_n"] = rng.choices(
            [unknown, float(unknown), str(unknown)], [0.75, 0.2, 0.05]
        )[0]
    return names


def categories(doc: dict[str, Any], vocab: Vocabulary, category: str, lang: str, rng: random.Random) -> None:
    """The category fields: ``category`` with its ancestors."""
    tags = vocab.categories.with_ancestors(category)
    doc["categories_tags"] = tags
    doc["categories_hierarchy"] = tags
    doc["categories"] = ", ".join(vocab.categories.name(t, lang) for t in tags)
    doc["categories_lc"] = lang
    if rng.random() < 0.9:
        doc["categories_old"] = doc["categories"]
    if rng.random() < 0.93:
        doc["compared_to_category"] = category


def labels(doc: dict[str, Any], vocab: Vocabulary, lang: str, rng: random.Random) -> None:
    """The label fields of a labelled product: one to three labels with their ancestors."""
    if rng.random() >= 0.387 or not vocab.label_tags:
        return
    chosen = rng.sample(vocab.label_tags, k=min(len(vocab.label_tags), rng.choice([1, 1, 1, 2, 3])))
    tags: list[str] = []
    for tag in chosen:
        tags.extend(t for t in vocab.labels.with_ancestors(tag) if t not in tags)
    doc["labels_tags"] = tags
    doc["labels_hierarchy"] = tags
    if rng.random() < 0.97:
        doc["labels"] = ", ".join(vocab.labels.name(t, lang) for t in tags)
        doc["labels_lc"] = lang


def countries(
    doc: dict[str, Any], vocab: Vocabulary, weights: list[int], lang: str, rng: random.Random
) -> None:
    """The country fields: one country drawn with ``weights`` over ``vocab.country_pool``, sometimes two."""
    country = rng.choices(vocab.country_pool, weights)[0]
    countries = [country] + ([rng.choice(vocab.country_pool)] if rng.random() < 0.15 else [])
    countries = list(dict.fromkeys(countries))
    doc["countries_tags"] = countries
    doc["countries_hierarchy"] = countries
    doc["countries"] = ", ".join(vocab.countries.name(c, lang) for c in countries)
    if rng.random() < 0.954:
        doc["countries_lc"] = lang


def pick_weight(rng: random.Random) -> tuple[int, str]:
    """A usual pack weight or volume: (value, unit)."""
    unit = rng.choices(["g", "ml", "kg", "cl", "l"], [60, 15, 10, 8, 7])[0]
    value = {
        "g": rng.choice([50, 100, 125, 150, 180, 200, 250, 300, 400, 500, 750]),
        "ml": rng.choice([200, 250, 330, 500, 750]),
        "kg": rng.choice([1, 2, 5]),
        "cl": rng.choice([25, 33, 50, 75]),
        "l": rng.choice([1, 2]),
    }[unit]
    return value, unit


def quantity(doc: dict[str, Any], value: int, unit: str, rng: random.Random) -> None:
    """The quantity and serving fields, with the real dump's mix of types."""
    if rng.random() < 0.308:
        doc["quantity"] = f"{value} {unit}" if rng.random() < 0.95 else str(value)
    if rng.random() < 0.215:
        doc["product_quantity"] = rng.choices([value, float(value), str(value)], [26, 48, 26])[0]
        if rng.random() < 0.55:
            doc["product_quantity_unit"] = "ml" if unit in ("ml", "cl", "l") else "g"
    if rng.random() < 0.82:
        serving = rng.choice([15, 25, 30, 40, 100, 125, 250])
        doc["serving_size"] = f"{serving} g"
        doc["serving_quantity"] = rng.choices([str(serving), serving, float(serving), None], [54, 6, 20, 1])[
            0
        ]


def history(doc: dict[str, Any], created: int, modified: int, rng: random.Random) -> None:
    """Who edited the product and when, its scans, completeness and data-quality tags."""
    creator = rng.choice(CREATORS)
    doc["created_t"] = created
    doc["last_modified_t"] = modified
    if rng.random() < 0.89:
        doc["last_updated_t"] = max(modified, 1_729_000_000)
    doc["rev"] = rng.randint(1, 60) if rng.random() < 0.997 else str(rng.randint(1, 60))
    doc["creator"] = creator
    editors = list(dict.fromkeys([creator, *rng.choices(CREATORS, k=rng.randint(0, 4))]))
    doc["last_modified_by"] = editors[-1] if rng.random() < 0.96 else None
    doc["last_editor"] = editors[-1] if rng.random() < 0.96 else None
    doc["editors_tags"] = editors
    doc["photographers_tags"] = editors[:2] if "images" in doc else []
    doc["informers_tags"] = editors[:3]
    doc["correctors_tags"] = editors[1:]
    doc["checkers_tags"] = []
    doc["entry_dates_tags"] = ["2019-03-09", "2019-03", "2019"]
    doc["last_edit_dates_tags"] = ["2024-10-26", "2024-10", "2024"]
    doc["codes_tags"] = ["code-13", doc["code"], "conflict-with-upc-12"][: rng.randint(1, 3)]
    if rng.random() < 0.297:
        doc["unique_scans_n"] = rng.randint(1, 500)
        doc["scans_n"] = doc["unique_scans_n"] + rng.randint(0, 50)
    if rng.random() < 0.962:
        doc["popularity_key"] = (
            rng.randint(0, 20_000_000_000) if rng.random() < 0.97 else str(rng.randint(0, 1000))
        )
        score = round(rng.uniform(0.1, 1.1), 4)
        doc["completeness"] = rng.choices([score, str(score), 1], [96, 3, 1])[0]
        for key in (
            "data_quality_tags",
            "data_quality_warnings_tags",
            "data_quality_errors_tags",
            "data_quality_info_tags",
            "data_quality_bugs_tags",
        ):
            doc[key] = [f"en:{rand_token(rng, rng.randint(8, 30))}" for _ in range(rng.randint(0, 6))]
    doc["complete"] = rng.choice([0, 0, 1])
