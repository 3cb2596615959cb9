"""Robotoff's keyword and regex lists and its packaging grammar, read from their folders and parsed once per
process.

The files are Robotoff's own (``data/ocr/*`` in its repository, read by ``robotoff/prediction/ocr/*.py``).
In production they are downloaded beside the taxonomies and cached (``$OFF_KEYWORDS_DIR``); tests read
``../shared/data/ocr-keywords``. Every reader follows Robotoff's text-file rules: lines lose their trailing
newline only, empty lines and lines starting with ``//`` are skipped, ``.gz`` files are read through gzip.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.common.config import get_settings
from pipelines.common.errors import OffpipeError
from pipelines.predictors.keywords import KeywordSet, parse_keyword_lines

if TYPE_CHECKING:
    from lark import Lark

    from pipelines.category_model.classifier import CategoryClassifier

logger = logging.getLogger(__name__)


class MissingResourceError(OffpipeError, FileNotFoundError):
    """A keyword list the predictors need is not in the keywords folder."""


PLAIN_LISTS = ("store_regex.txt", "label_whitelist.txt")  # read through ``lines`` by their users
# Robotoff's packaging grammar (data/grammars): language, file, element properties in Robotoff's order.
LANG = "fr"  # Robotoff only has a French grammar
GRAMMAR_FILE = f"packaging_{LANG}.lark"
PROPERTIES = ("shape", "material", "recycling")  # Robotoff's PackagingElementProperty, in its order
SHAPE_TERMINAL = "PACKAGING_SHAPES"  # the packaging grammar's shape terminal


def text_lines(path: Path, *, comments: bool = True) -> Iterator[str]:
    """Lines of a Robotoff text file (``.gz`` or plain), with its skipping rules."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line and not (comments and line.startswith("//")):
                yield line


def keep_brand(key: str, name: str, blacklist: frozenset[str]) -> bool:
    """Robotoff's brand-list filter: no all-digit names, no blacklisted tags."""
    return not name.isdigit() and key not in blacklist


def _pairs(lines: Iterator[str], name: str) -> dict[str, str]:
    """``a||b`` lines as a mapping a → b (later lines win); other lines are skipped with a warning."""
    pairs: dict[str, str] = {}
    for line in lines:
        parts = line.split("||")
        if len(parts) != 2:
            logger.warning("%s: '||' separator expected in %r", name, line)
            continue
        pairs[parts[0]] = parts[1]
    return pairs


class UnmappedTerminalError(OffpipeError, LookupError):
    """A lexed shape/material/recycling string has no entry in its terminal map.

    Some terminal names are regexes by accident (``81 c*`` matches ``81 c``), so the matched string can
    differ from every map key; Robotoff raises there.
    """


@dataclass(frozen=True)
class PackagingGrammar:
    """The parser of ``packaging_fr.lark`` and the name → tags maps of its three terminals."""

    parser: Lark
    tags: dict[str, dict[str, list[str]]]  # property → normalized name → taxonomy ids

    @property
    def shape_pattern(self) -> str:
        """The shape terminal's regex: a text without a match of it cannot yield an element.

        Shape names are plain lowercase words (``\\b`` around each); on ASCII text Rust's and Python's
        ``\\b`` agree, so Polars can run it on normalized texts.
        """
        return self.parser.get_terminal(SHAPE_TERMINAL).pattern.to_regexp()

    def tag(self, prop: str, value: str) -> str:
        """First taxonomy id of a lexed string, as Robotoff (which raises when there is none)."""
        tags = self.tags[prop].get(value)
        if not tags:
            raise UnmappedTerminalError(f"{prop} {value!r} is not in its terminal map")
        return tags[0]


def load_grammar(grammars_dir: Path) -> PackagingGrammar:
    """Parse ``packaging_fr.lark`` (it imports the terminal files beside it) and read the three maps.

    Same Lark options as Robotoff: Earley with its default dynamic lexer and ambiguity resolution, so that
    ambiguous texts resolve the same way (which also depends on the Lark version, pinned to Robotoff's).
    """
    grammar_path = Path(grammars_dir) / GRAMMAR_FILE
    map_paths = {
        prop: grammar_path.parent / f"terminal_packaging_{prop}_{LANG}_map.json" for prop in PROPERTIES
    }
    for path in (grammar_path, *map_paths.values()):
        if not path.is_file():
            raise MissingResourceError(
                f"packaging grammar file {path.name} not found in {grammar_path.parent} "
                "(Robotoff's data/grammars; OFF_GRAMMARS_DIR)"
            )
    from lark import Lark

    parser = Lark.open(str(grammar_path), start="value")
    tags = {prop: json.loads(path.read_text(encoding="utf-8")) for prop, path in map_paths.items()}
    return PackagingGrammar(parser=parser, tags=tags)


class Resources:
    """What predictors read besides their input tables: the lists of one keywords folder and the taxonomies,
    each parsed on first use, and the reference date of the run."""

    def __init__(
        self,
        keywords_dir: Path,
        taxonomy_dir: Path | None = None,
        today: dt.date | None = None,
        grammars_dir: Path | None = None,
        category_model: Path | None = None,
    ) -> None:
        self.keywords_dir = Path(keywords_dir)
        # Robotoff's Lark grammars sit in a grammars folder beside the keyword lists (data/grammars).
        self.grammars_dir = Path(grammars_dir) if grammars_dir else self.keywords_dir.parent / "grammars"
        self.today = today  # the date relative rules use (expiration years); None = the current date
        self.taxonomy_dir = Path(taxonomy_dir) if taxonomy_dir else None
        self.category_model = Path(category_model) if category_model else None  # folder; None: not used
        self._taxonomies: dict[str, Any] = {}

    def path(self, name: str) -> Path:
        path = self.keywords_dir / name
        if not path.is_file():
            raise MissingResourceError(
                f"keyword list {name} not found in {self.keywords_dir} "
                "(set OFF_KEYWORDS_DIR to a folder holding Robotoff's data/ocr lists)"
            )
        return path

    def lines(self, name: str) -> list[str]:
        return list(text_lines(self.path(name)))

    def preload(self, taxonomies: Iterable[str] = ()) -> None:
        """Parse every list, the grammars and ``taxonomies`` now, or fail naming everything that is missing.

        A long-running consumer (the listener) calls this at startup: without it, a missing list surfaces
        only inside its first batch, every batch fails the same way and the events go round the reclaim
        forever; and the first batch would pay the parsing (seconds) as latency.
        """
        loaders: list[tuple[str, Any]] = [
            (name, lambda name=name: getattr(self, name))
            for name, attr in vars(Resources).items()
            if isinstance(attr, cached_property)
        ]
        loaders += [(name, lambda name=name: self.path(name)) for name in PLAIN_LISTS]
        loaders += [(name, lambda name=name: self.taxonomy(name)) for name in taxonomies]
        from pipelines.category_model.classifier import CategoryModelError

        missing = []
        for name, load in loaders:
            try:
                load()
            except (FileNotFoundError, OSError, CategoryModelError) as exc:  # missing or unusable
                missing.append(f"{name}: {exc}")
        if missing:
            raise MissingResourceError("; ".join(missing))

    @cached_property
    def brand_blacklist(self) -> frozenset[str]:
        return frozenset(self.lines("brand_taxonomy_blacklist.txt"))

    def _brands(self, name: str) -> KeywordSet:
        blacklist = self.brand_blacklist
        return parse_keyword_lines(
            self.lines(name), keep=lambda key, value: keep_brand(key, value, blacklist)
        )

    @cached_property
    def curated_brands(self) -> KeywordSet:
        return self._brands("brand.txt")

    @cached_property
    def taxonomy_brands(self) -> KeywordSet:
        return self._brands("brand_from_taxonomy.gz")

    @cached_property
    def fishing_codes(self) -> KeywordSet:
        """``fishing_flashtext.txt``: one code per line, clean value ``(CODE, code)``."""
        keywords = KeywordSet()
        for code in self.lines("fishing_flashtext.txt"):
            keywords.add(code, (code.upper(), code))
        return keywords

    @cached_property
    def category_ids(self) -> frozenset[str]:
        """Node ids of the category taxonomy (the AOC rule accepts exact ids only, no synonyms)."""
        return frozenset(self.taxonomy("categories").nodes)

    def taxonomy(self, name: str):
        """A taxonomy of ``taxonomy_dir`` (``<name>.full.json[.gz]``), parsed by the SDK, cached."""
        if name not in self._taxonomies:
            from openfoodfacts.taxonomy import Taxonomy

            if self.taxonomy_dir is None:
                raise MissingResourceError(f"no taxonomy folder configured for {name}")
            for candidate in (f"{name}.full.json.gz", f"{name}.full.json", f"{name}.json.gz", f"{name}.json"):
                path = self.taxonomy_dir / candidate
                if path.is_file():
                    self._taxonomies[name] = Taxonomy.from_path(str(path))
                    break
            else:
                raise MissingResourceError(
                    f"taxonomy {name} not found in {self.taxonomy_dir} (OFF_TAXONOMY_DIR)"
                )
        return self._taxonomies[name]

    @cached_property
    def label_keywords(self) -> KeywordSet:
        return parse_keyword_lines(self.lines("label_flashtext.txt"))

    @cached_property
    def label_logos(self) -> dict[str, str]:
        return _pairs(text_lines(self.path("label_logo_annotation.txt")), "label_logo_annotation.txt")

    @cached_property
    def brand_logos(self) -> dict[str, str]:
        return _pairs(text_lines(self.path("brand_logo_annotation.txt")), "brand_logo_annotation.txt")

    @cached_property
    def image_flag_keywords(self) -> KeywordSet:
        """Robotoff's image-flag phrases, one trie for both lists: a phrase maps to ``(phrase, label)``.

        Lines are patterns as they are (no ``||`` fields); ``beauty`` is added first, so a phrase present in
        both lists ends up ``miscellaneous`` (the later clean value wins).
        """
        keywords = KeywordSet()
        for label, name in (
            ("beauty", "image_flag_beauty.txt"),
            ("miscellaneous", "image_flag_miscellaneous.txt"),
        ):
            for line in self.lines(name):
                keywords.add(line, (line, label))
        return keywords

    @cached_property
    def packaging_grammar(self) -> PackagingGrammar:
        """Robotoff's French packaging grammar and its terminal maps (built once per process)."""
        return load_grammar(self.grammars_dir)

    @cached_property
    def category_classifier(self) -> CategoryClassifier | None:
        """The category model of ``category_model``, loaded and checked once (None when not configured)."""
        if self.category_model is None:
            return None
        from pipelines.category_model.classifier import CategoryClassifier

        return CategoryClassifier.load(self.category_model)

    @cached_property
    def brand_prefixes(self) -> frozenset[tuple[str, str]]:
        """``(brand tag, code[:7] + "xxxxxx")`` pairs seen on at least 5 products (importer check)."""
        with gzip.open(self.path("brand_prefix.json.gz"), "rt", encoding="utf-8") as handle:
            return frozenset((tag, prefix) for tag, prefix in json.load(handle))


@cache
def _resources(
    keywords_dir: Path, taxonomy_dir: Path | None, grammars_dir: Path | None, category_model: Path | None
) -> Resources:
    return Resources(keywords_dir, taxonomy_dir, grammars_dir=grammars_dir, category_model=category_model)


def default_resources() -> Resources:
    """The lists of ``$OFF_KEYWORDS_DIR``, taxonomies of ``$OFF_TAXONOMY_DIR`` and grammars of
    ``$OFF_GRAMMARS_DIR`` (where ``offpipe reference refresh`` installs them), and the category model of
    ``OFF_CATEGORY_MODEL`` (by default the latest trained one, if any), shared in the process."""
    settings = get_settings()
    return _resources(
        settings.keywords_dir, settings.taxonomy_dir, settings.grammars_dir, settings.category_model_dir()
    )
