"""Generator mechanics: determinism, parallel == sequential, atomic output, malformed lines, fallbacks."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from pipelines.synth.generator import HUGE_LINE_BYTES, SynthSpec, generate
from tests.pipelines.synth.conftest import SynthRun


def _spec(taxonomy_dir: Path, keywords_dir: Path, **kwargs) -> SynthSpec:
    return SynthSpec(taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir, **kwargs)


def test_same_seed_gives_identical_files_whatever_the_workers(
    tmp_path: Path, synth_ocr_run: SynthRun
) -> None:
    """The session run used 2 worker processes; one process must write the very same bytes."""
    run = synth_ocr_run
    paths = {name: tmp_path / f"{name}.jsonl.gz" for name in ("dump", "ocr", "truth")}
    report = generate(run.spec, paths["dump"], ocr_out=paths["ocr"], truth_out=paths["truth"], workers=1)
    assert report == run.report
    for name, path in paths.items():
        # byte-identical, compression included (one gzip member per chunk, mtime 0)
        assert path.read_bytes() == getattr(run, name).read_bytes(), name
        assert gzip.decompress(path.read_bytes()).count(b"\n") > 0


def test_another_seed_gives_another_dump(tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate(_spec(taxonomy_dir, keywords_dir, products=50, seed=1), a)
    generate(_spec(taxonomy_dir, keywords_dir, products=50, seed=2), b)
    assert a.read_bytes() != b.read_bytes()
    assert len(a.read_bytes().splitlines()) == len(b.read_bytes().splitlines()) == 50


def test_ocr_rate_thins_the_archive_and_leaves_the_products_alone(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    full, thin = tmp_path / "full", tmp_path / "thin"
    for folder, rate in ((full, 1.0), (thin, 0.25)):
        folder.mkdir()
        spec = _spec(taxonomy_dir, keywords_dir, products=400, seed=3, ocr_rate=rate)
        generate(spec, folder / "dump.jsonl", ocr_out=folder / "ocr.jsonl")
    assert (full / "dump.jsonl").read_bytes() == (thin / "dump.jsonl").read_bytes()
    all_images = (full / "ocr.jsonl").read_bytes().splitlines()
    kept = (thin / "ocr.jsonl").read_bytes().splitlines()
    assert set(kept) < set(all_images)
    products = {orjson.loads(line)["source"].rsplit("/", 1)[0] for line in all_images}
    kept_products = {orjson.loads(line)["source"].rsplit("/", 1)[0] for line in kept}
    assert 0.1 < len(kept_products) / len(products) < 0.45
    # a product is in or out with all its images
    assert len(kept) == sum(
        1 for line in all_images if orjson.loads(line)["source"].rsplit("/", 1)[0] in kept_products
    )


def test_lines_balance_products_and_bad_lines(synth_run: SynthRun) -> None:
    lines = synth_run.lines()
    report = synth_run.report
    assert report.lines == len(lines) == report.products + sum(report.bad_lines.values())
    good = bad = 0
    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if isinstance(doc, dict) and "code" in doc:
            good += 1
        else:
            bad += 1
    assert good == report.products == 3000
    assert bad == sum(report.bad_lines.values()) > 0
    # invalid UTF-8 reaches the file as bytes, not as replacement characters
    assert any(b"\xff\xfe" in line for line in lines) == ("invalid_utf8" in report.bad_lines)


def test_every_bad_kind_is_produced(tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path) -> None:
    spec = _spec(taxonomy_dir, keywords_dir, products=400, seed=3, bad_line_rate=0.5)
    report = generate(spec, tmp_path / "d.jsonl")
    assert set(report.bad_lines) == {"truncated", "array", "scalar", "invalid_utf8", "empty_object_text"}
    assert report.lines == 400 + sum(report.bad_lines.values())


def test_huge_line_exceeds_16_mb(tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path) -> None:
    out = tmp_path / "d.jsonl"
    report = generate(_spec(taxonomy_dir, keywords_dir, products=3, huge_line=True), out)
    last = out.read_bytes().splitlines()[-1]
    assert len(last) > 16 * 1024 * 1024
    assert len(last) >= HUGE_LINE_BYTES
    assert orjson.loads(last)["code"] == "huge-line"
    assert report.bad_lines == {"huge": 1}


def test_failed_run_leaves_previous_file_and_no_temp(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    out = tmp_path / "d.jsonl.gz"
    out.write_bytes(b"previous good dump")

    def explode(_n: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        generate(_spec(taxonomy_dir, keywords_dir, products=2500), out, progress=explode)
    assert out.read_bytes() == b"previous good dump"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl.gz"]


def test_embedded_vocabulary_when_no_reference_files(tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    out, truth = tmp_path / "d.jsonl", tmp_path / "t.jsonl"
    report = generate(
        SynthSpec(products=200, seed=5, taxonomy_dir=empty, keywords_dir=empty), out, truth_out=truth
    )
    assert report.vocabulary == "embedded"
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(docs) == 200
    categories = {tag for doc in docs for tag in doc.get("categories_tags", [])}
    assert "en:snacks" in categories or "en:beverages" in categories
    assert report.facts.get("brand", 0) > 0


def test_progress_reports_every_product(tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path) -> None:
    seen: list[int] = []
    generate(
        _spec(taxonomy_dir, keywords_dir, products=2345, bad_line_rate=0.1),
        tmp_path / "d.jsonl",
        progress=seen.append,
    )
    assert sum(seen) == 2345
