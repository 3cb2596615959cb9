"""Builds one synthetic Product Opener document (and its OCR images and planted facts) at a time.

Realism targets the real dump's shape, measured by ``offpipe synth --profile``: the same top-level fields at
similar presence rates and with the same JSON types, including the real dump's quirks (numbers written as
strings, ``uploaded_t`` as int or string, ``serving_quantity`` as string, ``rev`` and ``imgid`` as strings in
selected images), both ``images`` layouts (legacy keys; the 2026 ``uploaded``/``selected`` layout) and both
nutrition layouts (``nutriments``; the ``nutrition`` object of ``schema_version`` 1003).

The fields the pipeline reads are built by hand and are consistent with each other (tags with their
hierarchy, images with their OCR, names with their category): ``fields.py``, ``nutrition.py`` and
``images.py`` write them, ``plants.py`` plants the facts the ground truth lists. The long tail of other
fields is filled from ``field_model.json`` (derived from a real sample's profile, see ``calibrate.py``) with
synthetic values of the right type and size (``longtail.py``). Every part draws from one ``rng`` in a fixed
order, so that a seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pipelines.synth import fields
from pipelines.synth.images import images
from pipelines.synth.longtail import LongTail, load_field_model
from pipelines.synth.nutrition import nutrition, scores
from pipelines.synth.ocr import OcrImage
from pipelines.synth.plants import DATE_YEARS, PlantRates, fill_ocr, weight_text
from pipelines.synth.vocab import Vocabulary
from pipelines.synth.wording import ADJECTIVES

# Languages of the calibration sample (US-heavy: most products are English, then French, then German).
LANG_WEIGHTS = {"en": 72, "fr": 20, "de": 3, "es": 2, "it": 1.5, "nl": 0.5, "pt": 0.5, "pl": 0.5}
NEW_SCHEMA_VERSION = 1003
OLD_SCHEMA_VERSIONS = [996, 998, 1001, 1002]


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
        fields.languages(doc, lang, rng)

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
        weight_value, weight_unit = fields.pick_weight(rng)
        if rng.random() < plants.name_weight:
            text, fact = weight_text(rng, lang, weight_value, weight_unit)
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

        ingredients = fields.ingredients(doc, vocab, self.signature_ingredients(category), lang, rng)
        if has_categories:
            fields.categories(doc, vocab, category, lang, rng)
        fields.labels(doc, vocab, lang, rng)
        if has_brand:
            doc["brands"] = brand_name
            doc["brands_tags"] = [brand_tag]
            if new_schema:
                doc["brands_hierarchy"] = [f"xx:{brand_tag}"]
                doc["brands_lc"] = lang
        elif rng.random() < 0.3:
            doc["brands_tags"] = []
        fields.countries(doc, vocab, self.country_weights, lang, rng)
        if rng.random() < 0.267:
            store = rng.choice(vocab.stores)
            doc["stores"] = store
            doc["stores_tags"] = [store.lower().replace(" ", "-")]
        if rng.random() < 0.26:
            emb = f"EMB {rng.randint(10000, 99999)}"
            doc["emb_codes"] = emb if rng.random() < 0.97 else str(rng.randint(10000, 99999))
            doc["emb_codes_tags"] = [emb.lower().replace(" ", "-")] if rng.random() < 0.3 else []
        fields.quantity(doc, weight_value, weight_unit, rng)
        if rng.random() < 0.25:
            doc["expiration_date"] = (
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.choice(DATE_YEARS)}"
            )

        fiber_known = rng.random() < 0.45
        nutrition(doc, new_schema, fiber_known, rng)
        ocr_images, selected_ids = images(
            doc,
            new_schema,
            lang,
            created,
            modified,
            rng,
            image_rate=self.options.image_rate,
            rotated_rate=plants.rotated,
        )
        fields.history(doc, created, modified, rng)
        scores(doc, new_schema, rng)
        doc["_keywords"] = sorted({w.lower() for w in name.replace(",", " ").split() if w.isalpha()})[:12]
        self.long_tail.fill(doc, rng)

        for image in ocr_images:
            facts.extend(fill_ocr(image, vocab, plants, selected_ids, ingredients, fiber_known, rng))
        return Built(doc=doc, ocr_images=ocr_images, facts=facts)
