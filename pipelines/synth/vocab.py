"""Vocabularies the synthetic dump draws from: taxonomies and Robotoff's keyword lists, or a fallback.

Realism comes from the real taxonomies (``categories``, ``labels``, ``countries``, ``ingredients``) and
from Robotoff's keyword lists (label phrases, brand and store names, fishing codes): facts planted in names
and OCR texts are then ones the real predictors know. They are read from the taxonomy and keyword
folders of the settings (``OFF_TAXONOMY_DIR``, ``OFF_KEYWORDS_DIR``). When those files are absent (a fresh
machine, offline) a small embedded vocabulary keeps the generator working; the dump is then less varied and
the planted facts use the embedded phrases.

Filler text (category names used in product names, adjectives) is screened so that it never contains a
keyword a predictor could match by accident: only planted facts should be found.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from flashtext import KeywordProcessor

from pipelines.synth import embedded

logger = logging.getLogger(__name__)

LANGS = ["fr", "en", "de", "es", "it", "nl", "pt", "pl"]
LANG_WEIGHTS = [34, 32, 9, 9, 6, 4, 3, 3]

# Words that would trigger Robotoff's regex predictors (labels "bio", AOC, "sans …" claims, weights…).
_TRIGGER = re.compile(
    r"\b(bio|biolog|organi|öko|oko|eko|aoc|aop|dop|igp|pdo|label|nutri|sans|without|ohne|sin|senza|zonder|"
    r"free|net|poids|weight|peso|gewicht|emb|fsc|rspo|fibre|fiber|ballast|\d)",
    re.IGNORECASE,
)


@dataclass
class Taxonomy:
    """The part of a taxonomy the generator needs: names per language and parents."""

    names: dict[str, dict[str, str]] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_nodes(cls, nodes: dict[str, tuple[list[str], dict[str, str]]]) -> Taxonomy:
        """A taxonomy of its own (copied) from ``node -> (parents, {lang: name})``."""
        taxonomy = cls()
        for node, (parents, names) in nodes.items():
            taxonomy.names[node] = dict(names)
            taxonomy.parents[node] = list(parents)
        return taxonomy

    def ids(self) -> list[str]:
        return sorted(self.names)

    def name(self, node: str, lang: str) -> str:
        names = self.names.get(node, {})
        return (
            names.get(lang) or names.get("en") or names.get("xx") or node.split(":", 1)[-1].replace("-", " ")
        )

    def with_ancestors(self, node: str) -> list[str]:
        """``node`` and all its ancestors, ancestors first (the order of ``*_hierarchy`` fields)."""
        seen: list[str] = []
        stack = [node]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.append(current)
            stack.extend(self.parents.get(current, []))
        return list(reversed(seen))


@dataclass
class Vocabulary:
    """Everything the document and OCR builders draw from."""

    categories: Taxonomy
    labels: Taxonomy
    countries: Taxonomy
    ingredients: Taxonomy
    category_pool: list[str]
    ingredient_pool: list[str]
    country_pool: list[str]
    label_tags: list[str]
    label_phrases: list[tuple[str, str]]  # (tag, phrase) from label_flashtext.txt
    brands: list[tuple[str, str]]  # (tag, name)
    stores: list[str]
    fishing_codes: list[str]
    source: str  # "files" or "embedded"
    blocker: KeywordProcessor = field(default_factory=KeywordProcessor, repr=False)

    def is_clean(self, text: str) -> bool:
        """True when ``text`` holds no keyword a predictor could match (safe as filler)."""
        return _clean_filler([text], self.blocker)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _find(folder: Path, *names: str) -> Path | None:
    for name in names:
        path = folder / name
        if path.is_file():
            return path
    return None


def load_taxonomy(folder: Path, name: str) -> Taxonomy | None:
    """``<name>.full.json`` (gzipped or not) from ``folder``, or None when absent."""
    path = _find(folder, f"{name}.full.json.gz", f"{name}.full.json", f"{name}.json")
    if path is None:
        return None
    raw = orjson.loads(_read_text(path))
    taxonomy = Taxonomy()
    for node, data in raw.items():
        if not isinstance(data, dict):
            continue
        names = data.get("name") or {}
        taxonomy.names[node] = {lang: str(text) for lang, text in names.items() if text}
        taxonomy.parents[node] = [p for p in data.get("parents") or [] if isinstance(p, str)]
    return taxonomy


def _keyword_lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    lines = []
    for line in _read_text(path).splitlines():
        line = line.strip()
        if line and not line.startswith("//"):
            lines.append(line)
    return lines


def _blocker(words: list[str]) -> KeywordProcessor:
    processor = KeywordProcessor()
    for word in words:
        if len(word) >= 3:
            processor.add_keyword(word)
    return processor


def _clean_filler(names: list[str], blocker: KeywordProcessor) -> bool:
    return all(not _TRIGGER.search(n) and not blocker.extract_keywords(n) for n in names)


def vocabulary_source(taxonomy_dir: Path) -> str:
    """``files`` when the taxonomies the generator needs are in ``taxonomy_dir``, else ``embedded``."""
    names = ("categories", "labels", "countries", "ingredients")
    found = all(_find(taxonomy_dir, f"{n}.full.json.gz", f"{n}.full.json", f"{n}.json") for n in names)
    return "files" if found else "embedded"


def load_vocabulary(taxonomy_dir: Path, keywords_dir: Path) -> Vocabulary:
    """Build the vocabulary from files, falling back to the embedded one for anything missing."""
    taxonomies = {
        n: load_taxonomy(taxonomy_dir, n) for n in ("categories", "labels", "countries", "ingredients")
    }
    missing = sorted(n for n, t in taxonomies.items() if t is None)
    if missing:
        logger.warning("taxonomies %s not found in %s: using the embedded vocabulary", missing, taxonomy_dir)
    fallback = {name: Taxonomy.from_nodes(nodes) for name, nodes in embedded.taxonomies().items()}
    categories = taxonomies["categories"] or fallback["categories"]
    labels = taxonomies["labels"] or fallback["labels"]
    countries = taxonomies["countries"] or fallback["countries"]
    ingredients = taxonomies["ingredients"] or fallback["ingredients"]

    label_phrases = [
        (tag, phrase)
        for tag, phrase in (
            line.split("||", 1) for line in _keyword_lines(_find(keywords_dir, "label_flashtext.txt"))
        )
    ] or embedded.LABEL_PHRASES
    brands = _load_brands(keywords_dir) or embedded.BRANDS
    stores = _load_stores(keywords_dir) or embedded.STORES
    fishing = _keyword_lines(_find(keywords_dir, "fishing_flashtext.txt")) or embedded.FISHING_CODES
    blocker = _blocker([p for _, p in label_phrases] + [n for _, n in brands] + stores)
    # Planted brands and stores must not trigger other predictors: no store name as brand, no label phrase,
    # no regex trigger (digits, "bio", "net"…) inside a brand or store name.
    store_keys = {s.lower() for s in stores}
    label_blocker = _blocker([p for _, p in label_phrases])
    brands = [
        (tag, name)
        for tag, name in brands
        if name.lower() not in store_keys
        and not _TRIGGER.search(name)
        and not label_blocker.extract_keywords(name)
    ] or embedded.BRANDS
    stores = [
        s for s in stores if not _TRIGGER.search(s) and not label_blocker.extract_keywords(s)
    ] or embedded.STORES
    category_pool = _category_pool(categories, blocker)
    ingredient_pool = [
        node
        for node in ingredients.ids()
        if node.startswith("en:") and _clean_filler([ingredients.name(node, lang) for lang in LANGS], blocker)
    ][:3000] or fallback["ingredients"].ids()
    country_pool = [c for c in embedded.COUNTRY_WEIGHTS if c in countries.names] or countries.ids()[:20]
    label_tags = [t for t in labels.ids() if t.startswith("en:")][:2000]
    source = "embedded" if missing else "files"
    return Vocabulary(
        categories=categories,
        labels=labels,
        countries=countries,
        ingredients=ingredients,
        category_pool=category_pool,
        ingredient_pool=ingredient_pool,
        country_pool=country_pool,
        label_tags=label_tags,
        label_phrases=label_phrases,
        brands=brands,
        stores=stores,
        fishing_codes=fishing,
        source=source,
        blocker=blocker,
    )


def _category_pool(categories: Taxonomy, blocker: KeywordProcessor, limit: int = 1500) -> list[str]:
    """Categories products are drawn from: named in English and French, with a parent, filler-safe.

    Names in several languages matter because product names are built from the category name in the
    product's language; that name is the signal a category model can learn from.
    """
    pool = []
    for node in categories.ids():
        names = categories.names.get(node, {})
        if (
            not node.startswith("en:")
            or "en" not in names
            or "fr" not in names
            or not categories.parents.get(node)
        ):
            continue
        if len(names["en"]) > 40 or not _clean_filler([names.get(lang, "") for lang in LANGS], blocker):
            continue
        pool.append(node)
    return pool[:limit] if len(pool) > 20 else categories.ids()


def _load_brands(keywords_dir: Path) -> list[tuple[str, str]]:
    """Brand names Robotoff's brand predictor knows: curated list and taxonomy list, minus its blacklist."""
    blacklist = set(_keyword_lines(_find(keywords_dir, "brand_taxonomy_blacklist.txt")))
    brands: dict[str, str] = {}
    for name in ("brand.txt", "brand_from_taxonomy.gz", "brand_from_taxonomy.txt"):
        for line in _keyword_lines(_find(keywords_dir, name)):
            parts = line.split("||")
            if len(parts) < 2:
                continue
            tag, label = parts[0], parts[1]
            if label.isdigit() or tag in blacklist or len(label) < 4 or not label.isascii():
                continue
            brands.setdefault(tag, label)
    return sorted(brands.items())


def _load_stores(keywords_dir: Path) -> list[str]:
    """Store names from ``store_regex.txt`` that match themselves.

    Robotoff keeps the last line of each name, so a name counts only when that last line has no custom
    regex ("Carrefour" then "Carrefour||grand jury" means "Carrefour" itself is never found).
    """
    last: dict[str, str] = {}
    for line in _keyword_lines(_find(keywords_dir, "store_regex.txt")):
        last[line.split("||", 1)[0]] = line
    return [name for name, line in last.items() if "||" not in line and name.isascii() and len(name) >= 4]
