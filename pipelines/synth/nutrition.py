"""Nutrition and score fields, in both layouts: ``nutriments`` and the ``nutrition`` object of the new schema.

Fiber is present only when ``fiber_known``: the OCR planting (``plants.py``) then knows whether fiber seen
on a photo is missing from the product, which is what the fiber quality facets look for.
"""

from __future__ import annotations

import random
from typing import Any

from pipelines.synth.wording import NUTRIENTS


def nutrition(doc: dict[str, Any], new_schema: bool, fiber_known: bool, rng: random.Random) -> None:
    """Nutrition values per 100 g in the ``nutrition`` object (new schema) or ``nutriments`` (legacy)."""
    values = {
        "energy-kcal": rng.randint(20, 600),
        "fat": round(rng.uniform(0, 40), 1),
        "saturated-fat": round(rng.uniform(0, 15), 1),
        "carbohydrates": round(rng.uniform(0, 80), 1),
        "sugars": round(rng.uniform(0, 50), 1),
        "proteins": round(rng.uniform(0, 25), 1),
        "salt": round(rng.uniform(0, 3), 2),
    }
    values["energy-kj"] = round(values["energy-kcal"] * 4.184)
    values["sodium"] = round(values["salt"] / 2.5, 3)
    if fiber_known:
        values["fiber"] = round(rng.uniform(0, 12), 1)
    if new_schema:
        doc["nutriments"] = {}
        nutrients = {
            name: {
                "value": value,
                "unit": unit,
                "source": "packaging",
                "source_per": "100g",
                "source_index": 0,
            }
            for name, unit in NUTRIENTS
            if (value := values.get(name)) is not None
        }
        doc["nutrition"] = {
            "aggregated_set": {"nutrients": nutrients, "per": "100g", "preparation": "as_sold"},
            "input_sets": [
                {
                    "source": "packaging",
                    "preparation": "as_sold",
                    "per": "100g",
                    "per_quantity": 100,
                    "per_unit": "g",
                    "last_updated_t": rng.randint(1_760_000_000, 1_790_000_000),
                    "nutrients": {
                        name: {"value": n["value"], "unit": n["unit"], "value_string": str(n["value"])}
                        for name, n in nutrients.items()
                    },
                }
            ],
        }
        return
    as_string = rng.random() < 0.03  # older API responses carry numbers as strings
    nutriments: dict[str, Any] = {}
    for name, unit in NUTRIENTS:
        value = values.get(name)
        if value is None:
            continue
        shown: Any = str(value) if as_string else value
        nutriments[name] = shown
        nutriments[f"{name}_100g"] = shown
        nutriments[f"{name}_value"] = shown
        nutriments[f"{name}_unit"] = unit
        if rng.random() < 0.5:
            nutriments[f"{name}_serving"] = round(float(value) * 0.3, 3)
    if rng.random() < 0.7:
        nutriments["nutrition-score-fr"] = rng.randint(-10, 30)
        nutriments["nutrition-score-fr_100g"] = nutriments["nutrition-score-fr"]
        nutriments["nova-group"] = rng.randint(1, 4)
        nutriments["nova-group_100g"] = nutriments["nova-group"]
        nutriments["fruits-vegetables-nuts-estimate-from-ingredients_100g"] = round(rng.uniform(0, 100), 2)
    doc["nutriments"] = nutriments
    if rng.random() < 0.983:
        doc["nutrition_data_per"] = rng.choices(["100g", "serving"], [9, 1])[0]


def scores(doc: dict[str, Any], new_schema: bool, rng: random.Random) -> None:
    """Nutri-Score, NOVA, packagings and the environmental score (named ``ecoscore`` in the legacy schema)."""
    grade = rng.choice("abcde")
    if rng.random() < 0.94:
        doc["nutriscore_grade"] = rng.choice([grade, "unknown", "not-applicable"])
    if rng.random() < 0.81:
        doc["nova_group"] = rng.randint(1, 4)
    if rng.random() < 0.93:
        doc["packagings"] = [
            {
                "shape": "en:bottle",
                "material": "en:plastic",
                "recycling": "en:recycle",
                "number_of_units": 1,
                "weight_measured": round(rng.uniform(1, 60), 1),
            }
        ][: rng.choice([0, 0, 1])]
    countries = ["fr", "de", "es", "it", "be", "nl", "uk", "us", "ch", "at", "pt", "pl", "world"]
    score_data = {
        "status": rng.choice(["known", "unknown"]),
        "grade": grade,
        "score": rng.randint(0, 100),
        "adjustments": {
            "origins_of_ingredients": {
                "aggregated_origins": [{"origin": "en:unknown", "percent": 100}],
                "epi_score": 0,
                "epi_value": -5,
                "warning": "origins_are_100_percent_unknown",
                "transportation_scores": {c: 0 for c in countries},
                "transportation_values": {c: 0 for c in countries},
                "values": {c: -5 for c in countries},
            },
            "packaging": {
                "value": -15,
                "warning": "packaging_data_missing",
                "non_recyclable_and_non_biodegradable_materials": 1,
            },
            "production_system": {"labels": [], "value": 0, "warning": "no_label"},
            "threatened_species": {},
        },
        "agribalyse": {"warning": "missing_agribalyse_match"},
        "missing": {"labels": 1, "origins": 1, "packagings": 1},
        "missing_key_data": 1,
        "scores": {c: rng.randint(0, 100) for c in countries},
    }
    if new_schema:
        doc["environmental_score_data"] = score_data
        doc["environmental_score_grade"] = grade
        doc["environmental_score_tags"] = [grade]
    elif rng.random() < 0.894:
        doc["ecoscore_data"] = score_data
        doc["ecoscore_grade"] = grade
