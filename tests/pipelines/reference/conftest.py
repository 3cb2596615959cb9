"""A local HTTP server laid out like the three reference sources, serving small fake files.

Paths: ``/taxonomies/<name>.full.json`` (the OFF static server), ``/raw/data/<path>`` (raw GitHub) and
``/media/data/<path>`` (the Git-LFS media host). As on GitHub, the raw host answers LFS-tracked ``.gz`` files
with their LFS pointer, so a client asking the wrong host installs nothing.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pipelines.common.config import Settings, get_settings
from pipelines.common.http import RetryPolicy
from pipelines.reference.catalog import GRAMMAR_PATHS, KEYWORD_PATHS, TAXONOMY_NAMES
from tests.support.http_server import DumpServer, ServedFile

FAST = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.01, timeout_s=10)

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 42\n"

KEYWORD_TEXTS: dict[str, str] = {
    "label_flashtext.txt": "en:organic||bio\nen:organic||organic\nfr:label-rouge||label rouge\n",
    "label_whitelist.txt": "// allow-list\nen:organic\n",
    "label_logo_annotation.txt": "label ab||fr:ab-agriculture-biologique\n",
    "brand.txt": "// tag||name||pattern\nauchan||Auchan||auchan production\ncoca-cola||Coca-Cola||cocacola\n",
    "brand_taxonomy_blacklist.txt": "// excluded\ncoca-cola\n",
    "brand_logo_annotation.txt": "alnatura||Alnatura\n",
    "store_regex.txt": "Carrefour\nAhorraMás||ahorramas\n",
    "fishing_flashtext.txt": "AIEC-MC1001\nAIEC-MC1002\n",
    "image_flag_beauty.txt": "glyceryl stearate\n",
    "image_flag_miscellaneous.txt": "fumer tue\n",
    "packaging.txt": "05-PP||05-PP\n",
    "trace_allergen.txt": "en:celery||celeri\n",
    "brand_from_taxonomy.gz": "1001-delights||1001 delights\n2bio||2bio\n12345||12345\n",
}
BRAND_PREFIXES = [["crous", "0000000xxxxxx"], ["auchan", "3596710xxxxxx"]]
GRAMMAR_TEXTS: dict[str, str] = {
    # A tiny stand-in for Robotoff's grammar with the same imports: one shape, optionally its material.
    "packaging_fr.lark": "\n".join(
        [
            "value: (packaging | WS)+",
            "packaging: PACKAGING_SHAPES (WS PACKAGING_MATERIALS)?",
            "%import .terminal_packaging_shape_fr.PACKAGING_SHAPES",
            "%import .terminal_packaging_material_fr.PACKAGING_MATERIALS",
            "%import .terminal_packaging_recycling_fr.PACKAGING_RECYCLING_VERB -> PACKAGING_RECYCLING",
            "%import common.WS",
            "",
        ]
    ),
    "terminal_packaging_shape_fr.lark": "PACKAGING_SHAPES.1: /\\bbouteille\\b/\n",
    "terminal_packaging_material_fr.lark": "PACKAGING_MATERIALS.1: /\\bverre\\b/\n",
    "terminal_packaging_recycling_fr.lark": "PACKAGING_RECYCLING_VERB.1: /\\ba recycler\\b/\n",
    "terminal_packaging_shape_fr_map.json": '{"bouteille": ["en:bottle"]}',
    "terminal_packaging_material_fr_map.json": '{"verre": ["en:glass"]}',
    "terminal_packaging_recycling_fr_map.json": '{"a recycler": ["en:recycle"]}',
}


def taxonomy(name: str, extra: str = "") -> dict:
    """A tiny ``*.full.json`` taxonomy: two nodes, one the parent of the other."""
    parent, child = f"en:{name}-root{extra}", f"en:{name}-leaf{extra}"
    return {
        parent: {"name": {"en": f"{name} root"}, "parents": [], "children": [child]},
        child: {"name": {"en": f"{name} leaf"}, "parents": [parent], "children": []},
    }


def taxonomy_path(name: str) -> str:
    return f"/taxonomies/{name}.full.json"


def robotoff_path(path: str) -> str:
    """Where the fake server serves a file of Robotoff's data/ folder (LFS .gz files: the media host)."""
    return f"/media/data/{path}" if path.endswith(".gz") else f"/raw/data/{path}"


def served_bodies() -> dict[str, bytes]:
    bodies = {taxonomy_path(name): orjson.dumps(taxonomy(name)) for name in TAXONOMY_NAMES}
    for path in KEYWORD_PATHS:
        name = path.rsplit("/", 1)[-1]
        if name == "brand_prefix.json.gz":
            body = gzip.compress(orjson.dumps(BRAND_PREFIXES))
        elif name.endswith(".gz"):
            body = gzip.compress(KEYWORD_TEXTS[name].encode())
        else:
            body = KEYWORD_TEXTS[name].encode()
        bodies[robotoff_path(path)] = body
        if name.endswith(".gz"):
            bodies[f"/raw/data/{path}"] = LFS_POINTER
    for path in GRAMMAR_PATHS:
        bodies[robotoff_path(path)] = GRAMMAR_TEXTS[path.rsplit("/", 1)[-1]].encode()
    return bodies


@pytest.fixture
def server() -> Iterator[DumpServer]:
    with DumpServer() as srv:
        srv.files.update({path: ServedFile(body) for path, body in served_bodies().items()})
        yield srv


@pytest.fixture
def settings(data_dir: Path, server: DumpServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OFF_TAXONOMY_URL", server.url("/taxonomies"))
    monkeypatch.setenv("OFF_ROBOTOFF_DATA_URL", server.url("/raw/data"))
    monkeypatch.setenv("OFF_ROBOTOFF_MEDIA_URL", server.url("/media/data/"))
    for name in ("OFF_TAXONOMY_DIR", "OFF_KEYWORDS_DIR", "OFF_GRAMMARS_DIR", "OFF_ROBOTOFF_REF"):
        monkeypatch.delenv(name, raising=False)
    return get_settings()
