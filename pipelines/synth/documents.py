"""Builds one synthetic Product Opener document (and its OCR images and planted facts) at a time.

Realism targets the real dump's shape, measured by ``offpipe synth --profile``: the same top-level fields at
similar presence rates and with the same JSON types, including the real dump's quirks (numbers written as
strings, ``uploaded_t`` as int or string, ``serving_quantity`` as string, ``rev`` and ``imgid`` as strings in
selected images), both ``images`` layouts (legacy keys; the 2026 ``uploaded``/``selected`` layout) and both
nutrition layouts (``nutriments``; the ``nutrition`` object of ``schema_version`` 1003).

The fields the pipeline reads are built by hand and are consistent with each other (tags with their
hierarchy, images with their OCR, names with their category). The long tail of other fields is filled from
``field_model.json`` (derived from a real sample's profile, see ``calibrate.py``) with synthetic values of the
right type and size (``longtail.py``).

Facts are planted on purpose — labels, brands and weights in product names; labels, brands, stores, packager
codes, expiry dates, nutrient mentions (fiber) and ``NUTRI-SCORE`` in OCR texts — and returned with the
document so the generator can write the ground truth a correct predictor must find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pipelines.synth.longtail import LongTail, load_field_model, rand_token
from pipelines.synth.ocr import ORIENTATIONS, OcrImage, required_height
from pipelines.synth.vocab import LANGS, Vocabulary
from pipelines.synth.wording import (
    ADJECTIVES,
    EXPIRY_PROMPT,
    INGREDIENT_PROMPT,
    NUTRIENTS,
    NUTRITION_WORDS,
    STORAGE_LINES,
    WEIGHT_PROMPT,
)

# Languages of the calibration sample (US-heavy: most products are English, then French, then German).
LANG_WEIGHTS = {"en": 72, "fr": 20, "de": 3, "es": 2, "it": 1.5, "nl": 0.5, "pt": 0.5, "pl": 0.5}
NEW_SCHEMA_VERSION = 1003
OLD_SCHEMA_VERSIONS = [996, 998, 1001, 1002]
IMAGE_SIZES = [(3024, 4032), (1536, 2048), (1200, 1600), (2448, 3264), (960, 1280)]
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
EU_FR_DEPTS = ["29", "56", "22", "35", "44", "85", "49", "72", "59", "62", "2A", "69"]
# Selection parameters of an uncropped selected image, as Product Opener writes them.
NO_CROP = {"normalize": None, "white_magic": None, "x1": "-1", "y1": "-1", "x2": "-1", "y2": "-1"}
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


@dataclass(frozen=True)
class DocumentOptions:
    flavor: str = "off"
    product_type: str = "food"
    new_schema_rate: float = 0.10
    image_rate: float = 0.50
    plants: PlantRates = field(default_factory=PlantRates)


@dataclass
class Built:
    """One generated product: its document, the OCR images to emit, and the facts planted in it."""

    doc: dict[str, Any]
    ocr_images: list[OcrImage]
    facts: list[dict[str, Any]]


# Top-level fields built by hand (the long-tail filler leaves them, and their _<lang> variants, alone).
HANDLED = frozenset(
    """
    _id id code product_type schema_version lang lc languages_tags languages_codes languages
    languages_hierarchy product_name generic_name ingredients_text ingredients_text_with_allergens
    ingredients ingredients_tags ingredients_hierarchy ingredients_original_tags ingredients_n
    known_ingredients_n unknown_ingredients_n categories categories_tags categories_hierarchy
    categories_lc categories_old compared_to_category labels labels_tags labels_hierarchy labels_lc
    brands brands_tags countries countries_tags countries_hierarchy countries_lc stores stores_tags
    emb_codes emb_codes_tags quantity product_quantity product_quantity_unit serving_size
    serving_quantity expiration_date images max_imgid last_image_t last_image_dates_tags nutriments
    nutrition nutrition_data_per created_t last_modified_t last_updated_t rev creator last_modified_by
    last_editor editors_tags photographers_tags informers_tags correctors_tags checkers_tags
    unique_scans_n scans_n popularity_key completeness complete data_quality_tags
    data_quality_warnings_tags data_quality_errors_tags data_quality_info_tags data_quality_bugs_tags
    _keywords ecoscore_data ecoscore_grade environmental_score_data environmental_score_grade
    environmental_score_tags nutriscore_grade nova_group packagings entry_dates_tags
    last_edit_dates_tags codes_tags brands_hierarchy brands_lc
    """.split()
)


class DocumentBuilder:
    """Makes documents for one generator run (one vocabulary, one seed, one set of options)."""

    def __init__(self, vocab: Vocabulary, options: DocumentOptions, seed: int) -> None:
        self.vocab = vocab
        self.options = options
        self.seed = seed
        self.long_tail = LongTail(load_field_model(), HANDLED, seed)
        self.langs = list(LANG_WEIGHTS)
        self.lang_weights = list(LANG_WEIGHTS.values())
        pool_rng = random.Random(f"pools:{seed}")
        self.category_pool = list(vocab.category_pool)
        # Zipf-like popularity over a seed-dependent order of categories.
        pool_rng.shuffle(self.category_pool)
        self.category_weights = [1.0 / (rank + 10) for rank in range(len(self.category_pool))]
        self._signatures: dict[str, list[str]] = {}
        self.adjectives = {
            lang: [a for a in words if vocab.is_clean(a)] or ["classic"] for lang, words in ADJECTIVES.items()
        }
        self.country_weights = [
            {"en:united-states": 60, "en:france": 20}.get(c, 2) for c in vocab.country_pool
        ]

    def signature_ingredients(self, category: str) -> list[str]:
        """Three ingredients typical of ``category`` (stable per category): a learnable signal."""
        if category not in self._signatures:
            rng = random.Random(f"sig:{category}")
            pool = self.vocab.ingredient_pool
            self._signatures[category] = rng.sample(pool, k=min(3, len(pool)))
        return self._signatures[category]

    # -- the document ---------------------------------------------------------------------------------------

    def build(self, code: str, rng: random.Random) -> Built:
        vocab = self.vocab
        plants = self.options.plants
        doc: dict[str, Any] = {}
        facts: list[dict[str, Any]] = []
        new_schema = rng.random() < self.options.new_schema_rate
        lang = rng.choices(self.langs, self.lang_weights)[0]
        created = rng.randint(1_330_000_000, 1_760_000_000)
        modified = min(1_790_000_000, created + rng.randint(0, 300_000_000))

        doc["_id"] = code
        if rng.random() < 0.997:
            doc["id"] = code
        doc["code"] = code
        if new_schema or rng.random() < 0.88:
            doc["product_type"] = self.options.product_type
        if new_schema:
            doc["schema_version"] = NEW_SCHEMA_VERSION
        elif rng.random() < 0.04:
            doc["schema_version"] = rng.choice(OLD_SCHEMA_VERSIONS)
        doc["lang"] = lang
        doc["lc"] = lang
        self._languages(doc, lang, rng)

        category = rng.choices(self.category_pool, self.category_weights)[0]
        has_categories = rng.random() < 0.886
        brand_tag, brand_name = rng.choice(vocab.brands)
        has_brand = rng.random() < 0.95

        # Product name: the category's name in the product's language plus filler; planted facts appended.
        name = vocab.categories.name(category, lang)
        adjectives = self.adjectives.get(lang, self.adjectives["en"])
        if rng.random() < 0.6:
            name = f"{name} {rng.choice(adjectives)}"
        if has_brand and rng.random() < 0.35:
            name = f"{brand_name}, {name}"
            facts.append(
                {"type": "brand", "value": brand_name, "value_tag": brand_tag, "source": "product_name"}
            )
        elif rng.random() < plants.name_brand:
            planted_tag, planted_name = rng.choice(vocab.brands)
            name = f"{planted_name} {name}"
            facts.append(
                {"type": "brand", "value": planted_name, "value_tag": planted_tag, "source": "product_name"}
            )
        if rng.random() < plants.name_label:
            tag, phrase = rng.choice(vocab.label_phrases)
            name = f"{name} {phrase}"
            facts.append({"type": "label", "value_tag": tag, "source": "product_name", "text": phrase})
        weight_value, weight_unit = self._weight(rng)
        if rng.random() < plants.name_weight:
            text, fact = _weight_text(rng, lang, weight_value, weight_unit)
            name = f"{name} {text}"
            facts.append({**fact, "source": "product_name"})
        if rng.random() >= 0.989:  # no name at all: the facts planted in it are not in the document either
            facts[:] = [f for f in facts if f.get("source") != "product_name"]
        else:
            doc["product_name"] = name
            if rng.random() < 0.9:
                doc[f"product_name_{lang}"] = name
            if lang != "en" and rng.random() < 0.15:
                doc["product_name_en"] = vocab.categories.name(category, "en")
        if rng.random() < 0.25:
            doc["generic_name"] = vocab.categories.name(category, lang)
            doc[f"generic_name_{lang}"] = doc["generic_name"]
        if lang != "fr" and rng.random() < 0.1:
            doc["generic_name_fr"] = vocab.categories.name(category, "fr")

        ingredients = self._ingredients(doc, category, lang, rng)
        if has_categories:
            self._categories(doc, category, lang, rng)
        self._labels(doc, lang, rng)
        if has_brand:
            doc["brands"] = brand_name
            doc["brands_tags"] = [brand_tag]
            if new_schema:
                doc["brands_hierarchy"] = [f"xx:{brand_tag}"]
                doc["brands_lc"] = lang
        elif rng.random() < 0.3:
            doc["brands_tags"] = []
        self._countries(doc, lang, rng)
        if rng.random() < 0.267:
            store = rng.choice(vocab.stores)
            doc["stores"] = store
            doc["stores_tags"] = [store.lower().replace(" ", "-")]
        if rng.random() < 0.26:
            emb = f"EMB {rng.randint(10000, 99999)}"
            doc["emb_codes"] = emb if rng.random() < 0.97 else str(rng.randint(10000, 99999))
            doc["emb_codes_tags"] = [emb.lower().replace(" ", "-")] if rng.random() < 0.3 else []
        self._quantity(doc, weight_value, weight_unit, rng)
        if rng.random() < 0.25:
            doc["expiration_date"] = (
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.choice(DATE_YEARS)}"
            )

        fiber_known = rng.random() < 0.45
        self._nutrition(doc, new_schema, fiber_known, rng)
        ocr_images, selected_ids = self._images(doc, new_schema, lang, created, modified, rng)
        self._history(doc, created, modified, rng)
        self._scores(doc, new_schema, rng)
        doc["_keywords"] = sorted({w.lower() for w in name.replace(",", " ").split() if w.isalpha()})[:12]
        self.long_tail.fill(doc, rng)

        for image in ocr_images:
            facts.extend(self._fill_ocr(image, selected_ids, ingredients, fiber_known, rng))
        return Built(doc=doc, ocr_images=ocr_images, facts=facts)

    # -- field groups ---------------------------------------------------------------------------------------

    def _languages(self, doc: dict[str, Any], lang: str, rng: random.Random) -> None:
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

    def _ingredients(self, doc: dict[str, Any], category: str, lang: str, rng: random.Random) -> list[str]:
        vocab = self.vocab
        ids = self.signature_ingredients(category) + rng.sample(
            vocab.ingredient_pool, k=min(len(vocab.ingredient_pool), rng.randint(2, 9))
        )
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

    def _categories(self, doc: dict[str, Any], category: str, lang: str, rng: random.Random) -> None:
        tags = self.vocab.categories.with_ancestors(category)
        doc["categories_tags"] = tags
        doc["categories_hierarchy"] = tags
        doc["categories"] = ", ".join(self.vocab.categories.name(t, lang) for t in tags)
        doc["categories_lc"] = lang
        if rng.random() < 0.9:
            doc["categories_old"] = doc["categories"]
        if rng.random() < 0.93:
            doc["compared_to_category"] = category

    def _labels(self, doc: dict[str, Any], lang: str, rng: random.Random) -> None:
        if rng.random() >= 0.387 or not self.vocab.label_tags:
            return
        chosen = rng.sample(
            self.vocab.label_tags, k=min(len(self.vocab.label_tags), rng.choice([1, 1, 1, 2, 3]))
        )
        tags: list[str] = []
        for tag in chosen:
            tags.extend(t for t in self.vocab.labels.with_ancestors(tag) if t not in tags)
        doc["labels_tags"] = tags
        doc["labels_hierarchy"] = tags
        if rng.random() < 0.97:
            doc["labels"] = ", ".join(self.vocab.labels.name(t, lang) for t in tags)
            doc["labels_lc"] = lang

    def _countries(self, doc: dict[str, Any], lang: str, rng: random.Random) -> None:
        country = rng.choices(self.vocab.country_pool, self.country_weights)[0]
        countries = [country] + ([rng.choice(self.vocab.country_pool)] if rng.random() < 0.15 else [])
        countries = list(dict.fromkeys(countries))
        doc["countries_tags"] = countries
        doc["countries_hierarchy"] = countries
        doc["countries"] = ", ".join(self.vocab.countries.name(c, lang) for c in countries)
        if rng.random() < 0.954:
            doc["countries_lc"] = lang

    @staticmethod
    def _weight(rng: random.Random) -> tuple[int, str]:
        unit = rng.choices(["g", "ml", "kg", "cl", "l"], [60, 15, 10, 8, 7])[0]
        value = {
            "g": rng.choice([50, 100, 125, 150, 180, 200, 250, 300, 400, 500, 750]),
            "ml": rng.choice([200, 250, 330, 500, 750]),
            "kg": rng.choice([1, 2, 5]),
            "cl": rng.choice([25, 33, 50, 75]),
            "l": rng.choice([1, 2]),
        }[unit]
        return value, unit

    def _quantity(self, doc: dict[str, Any], value: int, unit: str, rng: random.Random) -> None:
        if rng.random() < 0.308:
            doc["quantity"] = f"{value} {unit}" if rng.random() < 0.95 else str(value)
        if rng.random() < 0.215:
            doc["product_quantity"] = rng.choices([value, float(value), str(value)], [26, 48, 26])[0]
            if rng.random() < 0.55:
                doc["product_quantity_unit"] = "ml" if unit in ("ml", "cl", "l") else "g"
        if rng.random() < 0.82:
            serving = rng.choice([15, 25, 30, 40, 100, 125, 250])
            doc["serving_size"] = f"{serving} g"
            doc["serving_quantity"] = rng.choices(
                [str(serving), serving, float(serving), None], [54, 6, 20, 1]
            )[0]

    def _nutrition(
        self, doc: dict[str, Any], new_schema: bool, fiber_known: bool, rng: random.Random
    ) -> None:
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
            nutriments["fruits-vegetables-nuts-estimate-from-ingredients_100g"] = round(
                rng.uniform(0, 100), 2
            )
        doc["nutriments"] = nutriments
        if rng.random() < 0.983:
            doc["nutrition_data_per"] = rng.choices(["100g", "serving"], [9, 1])[0]

    def _images(
        self,
        doc: dict[str, Any],
        new_schema: bool,
        lang: str,
        created: int,
        modified: int,
        rng: random.Random,
    ) -> tuple[list[OcrImage], dict[str, str]]:
        """The product's images in the legacy or the new layout; returns its OCR images and selected ids."""
        if rng.random() >= self.options.image_rate:
            return [], {}
        count = min(40, max(1, int(rng.expovariate(1 / 3.5)) + 1))
        uploaded: dict[str, dict[str, Any]] = {}
        ocr_images = []
        for imgid in range(1, count + 1):
            width, height = rng.choice(IMAGE_SIZES)
            orientation = rng.choice(ORIENTATIONS[1:]) if rng.random() < self.options.plants.rotated else "up"
            if orientation in ("left", "right"):
                width, height = height, width
            t = rng.randint(created, modified)
            uploaded[str(imgid)] = {
                "uploaded_t": rng.choices([t, str(t)], [66, 34])[0] if not new_schema else t,
                "uploader": rng.choice(CREATORS),
                "sizes": _sizes(width, height),
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

    def _history(self, doc: dict[str, Any], created: int, modified: int, rng: random.Random) -> None:
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

    def _scores(self, doc: dict[str, Any], new_schema: bool, rng: random.Random) -> None:
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

    # -- OCR ------------------------------------------------------------------------------------------------

    def _fill_ocr(
        self,
        image: OcrImage,
        selected_ids: dict[str, str],
        ingredients: list[str],
        fiber_known: bool,
        rng: random.Random,
    ) -> list[dict[str, Any]]:
        """Text blocks of one image, with the facts planted in them."""
        vocab = self.vocab
        plants = self.options.plants
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
            blocks.append([self._packager(rng, fact)])
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

    def _packager(self, rng: random.Random, fact: Any) -> str:
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
        code = rng.choice(self.vocab.fishing_codes)
        fact(type="packager_code", value=code.upper(), matcher="fishing")
        return code


def _store_tag(name: str) -> str:
    return name.lower().replace(" & ", "-").replace(" ", "-").replace("'", "-")


def _sizes(width: int, height: int) -> dict[str, dict[str, int]]:
    sizes = {"full": {"w": width, "h": height}}
    for size in (100, 200, 400):
        scale = size / max(width, height)
        sizes[str(size)] = {"w": max(1, round(width * scale)), "h": max(1, round(height * scale))}
    return sizes


def _weight_text(rng: random.Random, lang: str, value: int, unit: str) -> tuple[str, dict[str, Any]]:
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
