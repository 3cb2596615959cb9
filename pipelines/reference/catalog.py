"""The reference files the pipeline needs, where each one is downloaded from and where it is installed.

Why a fixed list rather than "everything in Robotoff's data/ folder": the predictors read these files by
name (:class:`pipelines.predictors.resources.Resources`, the SDK's taxonomy loader), so each one is required,
and a new upstream file should enter the pipeline with the code that reads it. The list mirrors what
Robotoff itself loads (``robotoff/settings.py``): the taxonomies from the OFF static server, the OCR lists of
``data/ocr/``, ``data/brand_prefix.json.gz`` and the French packaging grammar of ``data/grammars/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipelines.common.config import Settings
from pipelines.common.errors import OffpipeError


class UnknownReferenceError(OffpipeError, ValueError):
    """``only`` names a file that is not in the catalog."""


class Kind(StrEnum):
    """How a file is validated (and, for taxonomies, transformed) before it is installed."""

    taxonomy = "taxonomy"  # a *.full.json taxonomy, installed gzip-compressed
    text = "text"  # a non-empty UTF-8 text file
    json = "json"  # a JSON document (the grammars' terminal maps)
    gzip_text = "gzip_text"  # a gzip file holding non-empty UTF-8 text
    gzip_json = "gzip_json"  # a gzip file holding a JSON document


class Group(StrEnum):
    """The three sources, also accepted by ``only`` to refresh one of them."""

    taxonomies = "taxonomies"
    keywords = "keywords"
    grammars = "grammars"


TAXONOMY_NAMES: tuple[str, ...] = (
    "categories",
    "labels",
    "brands",
    "ingredients",
    "countries",
    "packaging_shapes",
    "packaging_materials",
    "packaging_recycling",
)

# Paths under Robotoff's data/ folder, installed in the keywords folder under their base name.
KEYWORD_PATHS: tuple[str, ...] = (
    "ocr/label_flashtext.txt",
    "ocr/label_whitelist.txt",
    "ocr/label_logo_annotation.txt",
    "ocr/brand.txt",
    "ocr/brand_from_taxonomy.gz",
    "ocr/brand_taxonomy_blacklist.txt",
    "ocr/brand_logo_annotation.txt",
    "ocr/store_regex.txt",
    "ocr/fishing_flashtext.txt",
    "ocr/image_flag_beauty.txt",
    "ocr/image_flag_miscellaneous.txt",
    "ocr/packaging.txt",
    "ocr/trace_allergen.txt",
    "brand_prefix.json.gz",
)

GRAMMAR_PATHS: tuple[str, ...] = (
    "grammars/packaging_fr.lark",
    *(
        f"grammars/terminal_packaging_{part}_fr{suffix}"
        for part in ("shape", "material", "recycling")
        for suffix in (".lark", "_map.json")
    ),
)


@dataclass(frozen=True)
class ReferenceFile:
    """One file to keep up to date: its source URL, its installed path and how to check it."""

    name: str  # what ``only`` selects: the taxonomy name, else the installed file name
    group: Group
    url: str
    dest: Path
    kind: Kind
    required: bool = True  # a refresh fails when a required file has never been installed


def reference_files(settings: Settings) -> list[ReferenceFile]:
    """Every reference file for ``settings``: taxonomies, then keyword lists, then grammars."""
    files = [
        ReferenceFile(
            name=name,
            group=Group.taxonomies,
            url=f"{settings.taxonomy_url}/{name}.full.json",
            dest=settings.taxonomy_dir / f"{name}.full.json.gz",
            kind=Kind.taxonomy,
        )
        for name in TAXONOMY_NAMES
    ]
    files += [_robotoff_file(settings, path, Group.keywords, settings.keywords_dir) for path in KEYWORD_PATHS]
    files += [_robotoff_file(settings, path, Group.grammars, settings.grammars_dir) for path in GRAMMAR_PATHS]
    return files


def _robotoff_file(settings: Settings, path: str, group: Group, folder: Path) -> ReferenceFile:
    """A file of Robotoff's data/ folder. Its .gz files live in Git LFS, so they come from the media host."""
    name = path.rsplit("/", 1)[-1]
    lfs = name.endswith(".gz")
    base = settings.robotoff_media_url if lfs else settings.robotoff_data_url
    return ReferenceFile(name=name, group=group, url=f"{base}/{path}", dest=folder / name, kind=_kind(name))


def _kind(name: str) -> Kind:
    if name.endswith(".json.gz"):
        return Kind.gzip_json
    if name.endswith(".gz"):
        return Kind.gzip_text
    if name.endswith(".json"):
        return Kind.json
    return Kind.text


def select(files: Sequence[ReferenceFile], only: Iterable[str] | None) -> list[ReferenceFile]:
    """The files named in ``only`` (a file name, a taxonomy name or a group); all of them for ``None``.

    Unknown names raise :class:`UnknownReferenceError` listing the valid ones: a typo must not silently
    refresh nothing.
    """
    if only is None:
        return list(files)
    wanted = set(only)
    known = {f.name for f in files} | {f.dest.name for f in files} | {g.value for g in Group}
    unknown = sorted(wanted - known)
    if unknown:
        raise UnknownReferenceError(
            f"unknown reference file(s) {', '.join(unknown)}; choose among: {', '.join(sorted(known))}"
        )
    return [f for f in files if wanted & {f.name, f.dest.name, f.group.value}]
