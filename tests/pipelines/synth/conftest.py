"""One generated dump (with OCR archive and truth) shared by the synth tests of a session."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pipelines.synth.generator import SynthReport, SynthSpec, generate


@dataclass
class SynthRun:
    spec: SynthSpec
    report: SynthReport
    dump: Path
    ocr: Path
    truth: Path

    def lines(self) -> list[bytes]:
        with gzip.open(self.dump, "rb") as handle:
            return handle.read().splitlines()

    def documents(self) -> list[dict]:
        docs = []
        for line in self.lines():
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                docs.append(doc)
        return docs

    def ocr_lines(self) -> dict[str, bytes]:
        """Raw OCR archive lines by source path, unparsed: parsing every response costs seconds."""
        out = {}
        with gzip.open(self.ocr, "rb") as handle:
            for line in handle.read().splitlines():
                match = re.match(rb'\{"source":"([^"]+)"', line)
                assert match, line[:80]
                out[match.group(1).decode()] = line
        return out

    def truth_records(self) -> list[dict]:
        with gzip.open(self.truth, "rb") as handle:
            return [orjson.loads(line) for line in handle]


def _run(folder: Path, spec: SynthSpec, with_ocr: bool) -> SynthRun:
    dump, ocr, truth = folder / "dump.jsonl.gz", folder / "ocr.jsonl.gz", folder / "truth.jsonl.gz"
    report = generate(spec, dump, ocr_out=ocr if with_ocr else None, truth_out=truth, workers=2)
    return SynthRun(spec, report, dump, ocr, truth)


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path) -> SynthRun:
    """3,000 products with malformed lines and truth: enough for profile and mix statistics."""
    spec = SynthSpec(
        products=3000, seed=7, bad_line_rate=0.02, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir
    )
    return _run(tmp_path_factory.mktemp("synth"), spec, with_ocr=False)


@pytest.fixture(scope="session")
def synth_ocr_run(
    tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path
) -> SynthRun:
    """1,200 products with their OCR archive (OCR responses are large: fewer products)."""
    spec = SynthSpec(
        products=1200, seed=11, bad_line_rate=0.01, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir
    )
    return _run(tmp_path_factory.mktemp("synth-ocr"), spec, with_ocr=True)
