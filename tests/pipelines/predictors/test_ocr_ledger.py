"""The OCR ledger: a bulk run predicts only the images that are new, changed, or predicted by other lists."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ocr.ingest import default_output, ingest_archive
from pipelines.predictors import ocr_ledger
from pipelines.predictors.base import Predictor
from pipelines.predictors.bulk import run_predictions
from pipelines.predictors.ocr_ledger import ocr_hashes, predictors_fingerprint, stale_types
from pipelines.predictors.registry import PREDICTORS, predict
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE
from pipelines.synth.generator import SynthSpec, generate
from tests.conftest import shared_path

TYPES = ("brand", "label", "packaging", "store")
OCR_PREDICTORS = [predictor for predictor in PREDICTORS if predictor.applies_to(OCR_SOURCE)]


def _copy_lists(keywords_dir: Path, target: Path) -> Path:
    copy = target / "ocr-keywords"
    shutil.copytree(keywords_dir, copy)
    return copy


def _resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir, grammars_dir=shared_path("grammars"))


def test_fingerprint_follows_list_contents_not_their_location(
    tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    original = predictors_fingerprint(_resources(keywords_dir, taxonomy_dir))
    copy = _copy_lists(keywords_dir, tmp_path)
    assert predictors_fingerprint(_resources(copy, taxonomy_dir)) == original
    edited = tmp_path / "edited"
    edited.mkdir()
    changed = _copy_lists(keywords_dir, edited)
    with (changed / "label_whitelist.txt").open("a", encoding="utf-8") as handle:
        handle.write("en:a-new-label\n")  # read by the insight importer, by no predictor
    assert predictors_fingerprint(_resources(changed, taxonomy_dir)) == original
    with (changed / "label_flashtext.txt").open("a", encoding="utf-8") as handle:
        handle.write("en:a-new-label||a new label\n")
    relisted = predictors_fingerprint(_resources(changed, taxonomy_dir))
    assert stale_types(original, relisted) == ("label",)  # only the label predictor's part changed
    assert stale_types(None, relisted) is None and stale_types("0" * 64, relisted) is None  # all types


@given(st.dictionaries(st.sampled_from(TYPES), st.sampled_from(["a", "b"])), st.sets(st.sampled_from(TYPES)))
def test_stale_types_are_the_types_whose_digest_differs(old: dict[str, str], changed: set[str]) -> None:
    current = {kind: "a" for kind in TYPES} | {kind: "c" for kind in changed}
    recorded = ";".join(f"{k}={v}" for k, v in sorted(old.items()))
    expected = None if not old else tuple(sorted(k for k in TYPES if old.get(k) != current[k]))
    assert stale_types(recorded, ";".join(f"{k}={v}" for k, v in sorted(current.items()))) == expected


@pytest.fixture
def ocr_texts(ocr_archive: Path) -> Path:
    ingest_archive(ocr_archive, flavor="off")
    return default_output("off")


def test_ocr_hash_changes_with_the_text_only(ocr_texts: Path) -> None:
    table = pq.read_table(ocr_texts)
    before = ocr_hashes(table)
    texts = table.column("full_text").to_pylist()
    texts[0] = (texts[0] or "") + " 500 g"
    edited = table.set_column(table.schema.get_field_index("full_text"), "full_text", pa.array(texts))
    after = ocr_hashes(edited)
    differs = pc.not_equal(before.column("ocr_hash"), after.column("ocr_hash")).to_pylist()
    assert differs == [True] + [False] * (table.num_rows - 1)
    assert ocr_hashes(ocr_texts).column("ocr_hash").equals(before.column("ocr_hash"))


def _ledger(store: Path) -> dict[tuple[str, str], str]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("SELECT barcode, source_image, ocr_hash FROM ocr_image").fetchall()
    finally:
        con.close()
    return {(barcode, image): digest for barcode, image, digest in rows}


def test_bulk_run_predicts_only_new_changed_or_relisted_images(
    ocr_texts: Path, data_dir: Path, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    resources = _resources(keywords_dir, taxonomy_dir)
    store = data_dir / "store.duckdb"
    first = run_predictions("off", ocr_table=ocr_texts, resources=resources)
    images = pq.read_metadata(ocr_texts).num_rows
    assert first.images == images > 0 and first.images_already_predicted == 0
    ledger = _ledger(store)
    assert len(ledger) == images

    second = run_predictions("off", ocr_table=ocr_texts, resources=resources)
    assert (second.images, second.images_already_predicted) == (0, images)
    assert second.store_import is not None and second.store_import["inserted"] == 0

    # one image gets a new OCR text: only it is predicted again, and the ledger takes its new hash
    table = pq.read_table(ocr_texts)
    texts = table.column("full_text").to_pylist()
    texts[0] = (texts[0] or "") + " Poids net : 750 g"
    edited_path = tmp_path / "ocr_edited.parquet"
    pq.write_table(
        table.set_column(table.schema.get_field_index("full_text"), "full_text", pa.array(texts)), edited_path
    )
    third = run_predictions("off", ocr_table=edited_path, resources=resources)
    assert (third.images, third.images_already_predicted) == (1, images - 1)
    assert third.per_type.get("product_weight", 0) >= 1
    edited_key = (table.column("barcode")[0].as_py(), table.column("source_image")[0].as_py())
    after = _ledger(store)
    assert {k for k in after if after[k] != ledger[k]} == {edited_key}

    # a subset of types neither skips nor records images
    subset = run_predictions("off", ocr_table=ocr_texts, resources=resources, types=["label"])
    assert (subset.images, subset.images_already_predicted) == (images, 0)
    assert _ledger(store) == after

    # another label list: every image again, with the label predictor only; a list no predictor reads: none
    changed = _copy_lists(keywords_dir, tmp_path)
    with (changed / "label_whitelist.txt").open("a", encoding="utf-8") as handle:
        handle.write("en:a-new-label\n")
    unread = run_predictions("off", ocr_table=ocr_texts, resources=_resources(changed, taxonomy_dir))
    # (the edited image's original OCR is back: that one image, with every predictor)
    assert (unread.images, unread.images_partial, unread.images_already_predicted) == (1, 0, images - 1)
    with (changed / "label_flashtext.txt").open("a", encoding="utf-8") as handle:
        handle.write("en:a-new-label||a new label\n")
    relisted = run_predictions("off", ocr_table=ocr_texts, resources=_resources(changed, taxonomy_dir))
    assert (relisted.images, relisted.images_partial, relisted.partial_types) == (images, images, ["label"])
    ocr_only = {"image_lang", "image_orientation", "nutrient", "nutrient_mention", "packaging"}
    assert first.per_type.keys() & ocr_only and not relisted.per_type.keys() & ocr_only  # those did not run
    forced = run_predictions("off", ocr_table=ocr_texts, resources=resources, all_images=True)
    assert forced.images == images and forced.images_partial == 0


def _prediction_count(store: Path) -> int:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM prediction").fetchall()[0][0]
    finally:
        con.close()


def test_predictions_and_their_ledger_entries_commit_together(
    ocr_texts: Path, data_dir: Path, keywords_dir: Path, taxonomy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docs/reliability.md`` F18: the import and the ledger were two transactions; a crash between them left
    the predictions without their ledger entries, and the next run predicted every image again. Now a crash
    after the ledger's statement, before the commit, leaves neither; the rerun then stores both."""
    resources = _resources(keywords_dir, taxonomy_dir)
    store = data_dir / "store.duckdb"
    real = ocr_ledger.record_images

    def crash_after_recording(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(ocr_ledger, "record_images", crash_after_recording)
    with pytest.raises(RuntimeError, match="killed before the commit"):
        run_predictions("off", ocr_table=ocr_texts, resources=resources)
    assert _prediction_count(store) == 0 and _ledger(store) == {}
    monkeypatch.setattr(ocr_ledger, "record_images", real)
    rerun = run_predictions("off", ocr_table=ocr_texts, resources=resources)
    assert rerun.images == len(_ledger(store)) > 0 and _prediction_count(store) > 0
    again = run_predictions("off", ocr_table=ocr_texts, resources=resources)
    assert (again.images, again.images_already_predicted) == (0, rerun.images)


def _stored(store: Path) -> list[tuple]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(
            "SELECT barcode, type, value, value_tag, source_image, predictor, data::VARCHAR FROM prediction"
            " ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_a_partial_rerun_stores_what_a_full_rerun_does(
    ocr_texts: Path, data_dir: Path, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """A new label list (one label dropped, one added) re-runs the label predictor alone over the predicted
    images; the store then holds what a full re-run (every predictor over every image) leaves in a copy of
    the same store — stored predictions are evicted and kept per (image, type) as Robotoff's import does, so
    the types not re-run keep theirs either way."""
    changed = _copy_lists(keywords_dir, tmp_path)
    lines = (changed / "label_flashtext.txt").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith("en:organic||")]
    (changed / "label_flashtext.txt").write_text("\n".join([*kept, "en:vegan||ingredients"]) + "\n")
    new = _resources(changed, taxonomy_dir)
    store = data_dir / "store.duckdb"
    run_predictions("off", ocr_table=ocr_texts, resources=_resources(keywords_dir, taxonomy_dir))
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(store, copy)
    partial = run_predictions("off", ocr_table=ocr_texts, resources=new)
    assert partial.partial_types == ["label"] and partial.images == partial.images_partial > 0
    full = run_predictions("off", ocr_table=ocr_texts, resources=new, store=copy, all_images=True)
    assert full.images == partial.images and full.images_partial == 0
    assert _stored(store) == _stored(copy) != []
    assert run_predictions("off", ocr_table=ocr_texts, resources=new).images == 0  # both recorded


def _with_rare_mentions(table: pa.Table) -> pa.Table:
    """The sample with, in its first image, what the synthetic OCR never says: an AOC and a cosmetic term."""
    extra = " glyceryl stearate Appellation Chablis Grand Cru Grenouilles Contrôlée"
    for name in ("full_text", "full_text_contiguous"):
        values = table.column(name).to_pylist()
        values[0] = (values[0] or "") + extra
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))
    return table


@pytest.fixture(scope="module")
def sample_ocr(tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path) -> pa.Table:
    """The OCR texts of ``ocr_archive``'s synthetic products, built once for the parameters below."""
    folder = tmp_path_factory.mktemp("declared-files")
    spec = SynthSpec(products=300, seed=5, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, folder / "dump.jsonl.gz", ocr_out=folder / "ocr.jsonl.gz")
    ingest_archive(folder / "ocr.jsonl.gz", folder / "ocr.parquet", "off", 1)
    return _with_rare_mentions(pq.read_table(folder / "ocr.parquet"))


@pytest.mark.parametrize("predictor", OCR_PREDICTORS, ids=lambda p: p.type)
def test_each_predictor_reads_only_the_files_it_declares(
    predictor: Predictor, sample_ocr: pa.Table, tmp_path: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """With only its declared files present, a predictor predicts what it predicts with every file: a file
    it reads without declaring it would be missing (MissingResourceError), or change the output."""
    sources = {"keywords": keywords_dir, "taxonomies": taxonomy_dir, "grammars": shared_path("grammars")}
    folders = {kind: tmp_path / kind for kind in sources}
    for folder in folders.values():
        folder.mkdir()
    for kind, pattern in predictor.files:
        for path in sources[kind].glob(pattern):
            if path.is_file():
                target = folders[kind] / path.relative_to(sources[kind])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    only = Resources(folders["keywords"], folders["taxonomies"], grammars_dir=folders["grammars"])
    table = sample_ocr
    every = predict(ocr=table, types=[predictor.type], resources=_resources(keywords_dir, taxonomy_dir))
    declared = predict(ocr=table, types=[predictor.type], resources=only)
    assert declared.equals(every)
    assert every.num_rows > 0 or not predictor.files, "the sample exercises none of its files"
