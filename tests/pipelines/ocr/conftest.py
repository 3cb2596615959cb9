"""Fixtures of the OCR tests: the real Cloud Vision files of ``../shared/data/ocr-json`` and a synthetic
OCR archive generated with the project's generator."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipelines import barcodes
from pipelines.synth.generator import SynthReport, SynthSpec, generate
from tests.conftest import SHARED_DATA, shared_path

_REAL_NAME = re.compile(r"_([0-9]+)_([0-9]+)\.json(?:\.gz)?$")


@dataclass(frozen=True)
class RealOcr:
    """One real OCR JSON; its barcode and image id come from the file name (``…_3038350013804_11.json``)."""

    name: str
    barcode: str
    image_id: str
    payload: dict[str, Any]

    @property
    def source(self) -> str:
        return barcodes.ocr_path(self.barcode, self.image_id)

    def archive_line(self) -> bytes:
        return orjson.dumps({"source": self.source, "content": self.payload})


@pytest.fixture(scope="session")
def real_ocr() -> list[RealOcr]:
    """Every real OCR file (plain and gzipped); skips locally when the shared data is absent."""
    folder = shared_path("ocr-json")
    found = []
    for path in sorted(folder.iterdir()):
        match = _REAL_NAME.search(path.name)
        if match is None:
            continue
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        found.append(RealOcr(path.name, match.group(1), match.group(2), orjson.loads(data)))
    assert len(found) >= 6, f"expected the 6 real OCR files in {folder}"
    assert any(r.name.endswith(".json.gz") for r in found)
    return found


@dataclass
class SynthOcr:
    archive: Path
    report: SynthReport

    def lines(self) -> list[bytes]:
        return gzip.decompress(self.archive.read_bytes()).splitlines()


@pytest.fixture(scope="session")
def synth_ocr(tmp_path_factory: pytest.TempPathFactory) -> SynthOcr:
    """~250 synthetic images (upright and rotated) from 150 products; runs without the shared data too
    (the generator falls back to its embedded vocabulary)."""
    folder = tmp_path_factory.mktemp("synth-ocr")
    spec = SynthSpec(
        products=150,
        seed=23,
        taxonomy_dir=SHARED_DATA / "taxonomies",
        keywords_dir=SHARED_DATA / "ocr-keywords",
    )
    archive = folder / "ocr.jsonl.gz"
    report = generate(spec, folder / "dump.jsonl.gz", ocr_out=archive, workers=1)
    assert report.ocr_images > 100
    return SynthOcr(archive, report)
