"""Reference data refresh against a real HTTP server on 127.0.0.1: conditions, age, validation, atomicity."""

from __future__ import annotations

import gzip
import logging
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from pipelines.common.config import Settings, get_settings
from pipelines.predictors.resources import Resources, default_resources
from pipelines.reference import meta as meta_module
from pipelines.reference.catalog import TAXONOMY_NAMES, UnknownReferenceError, reference_files
from pipelines.reference.meta import meta_path, read_meta
from pipelines.reference.refresh import ReferenceDataError, ReferenceReport, Status, refresh_reference_data
from tests.pipelines.reference.conftest import FAST, robotoff_path, taxonomy, taxonomy_path
from tests.support.http_server import DumpServer, ServedFile

NOW = timedelta(0)  # max_age that makes every file due for a check


def refresh(settings: Settings, **kwargs) -> ReferenceReport:
    return refresh_reference_data(settings, retry=FAST, **kwargs)


def installed(settings: Settings) -> dict[str, bytes]:
    """Installed file name → bytes, for every file of the catalog."""
    return {f.name: f.dest.read_bytes() for f in reference_files(settings) if f.dest.is_file()}


def leftovers(settings: Settings) -> list[Path]:
    """Temp files left in the install folders (there must never be any after a run)."""
    folders = {settings.taxonomy_dir, settings.keywords_dir, settings.grammars_dir}
    return [p for folder in folders if folder.is_dir() for p in folder.iterdir() if p.name.startswith(".")]


def statuses(report: ReferenceReport) -> dict[str, Status]:
    return {f.name: f.status for f in report.files}


def test_first_download_installs_every_file(server: DumpServer, settings: Settings) -> None:
    report = refresh(settings)
    files = reference_files(settings)
    assert set(statuses(report).values()) == {Status.downloaded}
    assert report.ok and len(report.files) == len(files) == 8 + 14 + 7
    for file in files:
        assert file.dest.is_file(), file.name
        sidecar = read_meta(file.dest)
        assert sidecar is not None and sidecar.url == file.url and sidecar.etag
    assert leftovers(settings) == []


def test_taxonomies_are_installed_gzip_compressed(server: DumpServer, settings: Settings) -> None:
    refresh(settings, only=["taxonomies"])
    for name in TAXONOMY_NAMES:
        path = settings.taxonomy_dir / f"{name}.full.json.gz"
        assert orjson.loads(gzip.decompress(path.read_bytes())) == taxonomy(name)
        assert not (settings.taxonomy_dir / f"{name}.full.json").exists()


def test_lfs_files_come_from_the_media_host(server: DumpServer, settings: Settings) -> None:
    refresh(settings, only=["brand_from_taxonomy.gz", "brand_prefix.json.gz"])
    paths = {r["path"] for r in server.requests}
    assert paths == {"/media/data/ocr/brand_from_taxonomy.gz", "/media/data/brand_prefix.json.gz"}


def test_files_younger_than_max_age_are_not_requested(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    asked = len(server.requests)
    report = refresh(settings)  # default max_age: 2 hours
    assert set(statuses(report).values()) == {Status.fresh}
    assert len(server.requests) == asked


def test_unchanged_files_answer_304_and_are_left_alone(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    before = {f.name: f.dest.stat().st_mtime_ns for f in reference_files(settings)}
    checked = {f.name: read_meta(f.dest).checked_at for f in reference_files(settings)}
    report = refresh(settings, max_age=NOW)
    assert set(statuses(report).values()) == {Status.unchanged}
    category = server.requests[-len(report.files) :][0]
    assert category["path"] == taxonomy_path("categories")
    assert category["headers"]["If-None-Match"] == server.files[taxonomy_path("categories")].etag
    assert category["headers"]["If-Modified-Since"] == server.files[taxonomy_path("categories")].last_modified
    assert {f.name: f.dest.stat().st_mtime_ns for f in reference_files(settings)} == before
    for file in reference_files(settings):
        assert read_meta(file.dest).checked_at >= checked[file.name]


def test_a_changed_etag_installs_the_new_version(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    new_labels = taxonomy("labels", extra="-v2")
    server.files[taxonomy_path("labels")] = ServedFile(orjson.dumps(new_labels))
    server.files[robotoff_path("ocr/brand.txt")] = ServedFile(b"lidl||Lidl||lidl\n")
    report = refresh(settings, max_age=NOW)
    assert report.file("labels").status is Status.updated
    assert report.file("brand.txt").status is Status.updated
    assert report.counts() == {"updated": 2, "unchanged": len(report.files) - 2}
    labels = settings.taxonomy_dir / "labels.full.json.gz"
    assert orjson.loads(gzip.decompress(labels.read_bytes())) == new_labels
    assert read_meta(labels).etag == server.files[taxonomy_path("labels")].etag
    assert (settings.keywords_dir / "brand.txt").read_bytes() == b"lidl||Lidl||lidl\n"


def test_server_ignoring_conditions_with_same_body_is_unchanged(
    server: DumpServer, settings: Settings
) -> None:
    refresh(settings)
    before = {f.name: f.dest.stat().st_mtime_ns for f in reference_files(settings)}
    server.behaviour.ignore_conditions = True
    report = refresh(settings, max_age=NOW)
    assert set(statuses(report).values()) == {Status.unchanged}
    assert {f.name: f.dest.stat().st_mtime_ns for f in reference_files(settings)} == before


def test_force_ignores_age_and_validators(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    report = refresh(settings, force=True, only=["categories"])
    assert statuses(report) == {"categories": Status.updated}
    assert "If-None-Match" not in server.requests[-1]["headers"]


@pytest.mark.parametrize(
    "body",
    [b'{"en:truncated": {"name":', b"{}", b"[1, 2]", b'{"en:a": "not a node"}', b"<html>502</html>"],
    ids=["truncated", "empty-object", "array", "bad-node", "html"],
)
def test_a_corrupt_taxonomy_is_refused_and_the_previous_copy_kept(
    server: DumpServer, settings: Settings, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    refresh(settings)
    before = installed(settings)
    sidecar = read_meta(settings.taxonomy_dir / "categories.full.json.gz")
    server.files[taxonomy_path("categories")] = ServedFile(body)
    with caplog.at_level(logging.WARNING, logger="pipelines.reference.refresh"):
        report = refresh(settings, max_age=NOW)
    failed = report.file("categories")
    assert failed.status is Status.failed and failed.installed and failed.error
    assert report.failed == [failed] and not report.ok
    assert installed(settings) == before
    assert read_meta(settings.taxonomy_dir / "categories.full.json.gz") == sidecar  # retried next run
    assert "categories: refresh failed (previous copy kept)" in caplog.text
    assert leftovers(settings) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("ocr/brand_from_taxonomy.gz", b"version https://git-lfs.github.com/spec/v1\noid sha256:1\n"),
        ("brand_prefix.json.gz", b"\x1f\x8b\x08\x00garbage"),
        ("ocr/label_flashtext.txt", b"\n"),
        ("ocr/store_regex.txt", b"caf\xe9\n"),
        ("grammars/terminal_packaging_shape_fr_map.json", b"{"),
    ],
    ids=["lfs-pointer", "bad-gzip", "empty-text", "not-utf8", "bad-json"],
)
def test_invalid_robotoff_files_are_refused(
    server: DumpServer, settings: Settings, path: str, body: bytes
) -> None:
    refresh(settings)
    before = installed(settings)
    server.files[robotoff_path(path)] = ServedFile(body)
    report = refresh(settings, max_age=NOW)
    assert [f.name for f in report.failed] == [path.rsplit("/", 1)[-1]]
    assert installed(settings) == before


def test_a_failing_file_does_not_stop_the_others(server: DumpServer, settings: Settings) -> None:
    del server.files[taxonomy_path("brands")]  # 404: never downloaded
    with pytest.raises(ReferenceDataError, match="brands") as caught:
        refresh(settings)
    report = caught.value.report
    assert [f.name for f in report.missing] == ["brands"]
    assert "404" in report.file("brands").error
    assert report.counts() == {"failed": 1, "downloaded": len(report.files) - 1}
    assert len(installed(settings)) == len(report.files) - 1
    # Served again: the next run fetches only what is missing.
    server.files[taxonomy_path("brands")] = ServedFile(orjson.dumps(taxonomy("brands")))
    report = refresh(settings)
    assert report.file("brands").status is Status.downloaded
    assert report.counts() == {"downloaded": 1, "fresh": len(report.files) - 1}


def test_failures_with_a_previous_copy_are_reported_not_raised(
    server: DumpServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    refresh(settings)
    server.behaviour.fail_5xx = 10_000  # every request: 503
    with caplog.at_level(logging.WARNING, logger="pipelines.reference.refresh"):
        report = refresh(settings, max_age=NOW, only=["keywords"])
    assert len(report.failed) == 14 and report.missing == []
    assert all(f.installed and "503" in f.error for f in report.failed)
    assert caplog.text.count("refresh failed (previous copy kept)") == 14


def test_transient_errors_are_retried(server: DumpServer, settings: Settings) -> None:
    server.behaviour.fail_5xx = 1
    report = refresh(settings, only=["categories"])
    assert report.file("categories").status is Status.downloaded
    assert len(server.requests) == 2


def test_an_interrupted_transfer_installs_nothing(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    before = installed(settings)
    new_body = orjson.dumps(taxonomy("categories", extra="-" + "x" * 500))
    server.files[taxonomy_path("categories")] = ServedFile(new_body)
    server.behaviour.drop_after, server.behaviour.drops = 100, 10  # every attempt breaks after 100 bytes
    report = refresh(settings, max_age=NOW, only=["categories"])
    assert report.file("categories").status is Status.failed
    assert installed(settings) == before
    assert leftovers(settings) == []


def test_a_crash_while_installing_leaves_the_previous_copy(
    server: DumpServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(settings)
    before = installed(settings)
    server.files[taxonomy_path("countries")] = ServedFile(orjson.dumps(taxonomy("countries", "-v2")))

    def disk_full(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(meta_module.Path, "replace", disk_full)
    report = refresh(settings, max_age=NOW, only=["countries"])
    monkeypatch.undo()
    assert report.file("countries").status is Status.failed
    assert "No space left" in report.file("countries").error
    assert installed(settings) == before
    assert leftovers(settings) == []


def test_a_stale_sidecar_is_ignored(server: DumpServer, settings: Settings) -> None:
    """A crash between the file's and the sidecar's rename: the sidecar no longer matches its file."""
    refresh(settings, only=["brand.txt"])
    dest = settings.keywords_dir / "brand.txt"
    dest.write_bytes(b"edited||Edited\n")
    report = refresh(settings, only=["brand.txt"])  # not "fresh": the sidecar vouches for another file
    assert report.file("brand.txt").status is Status.updated
    assert "If-None-Match" not in server.requests[-1]["headers"]
    assert dest.read_bytes() == server.files[robotoff_path("ocr/brand.txt")].body


def test_a_new_source_url_is_downloaded_at_once(
    server: DumpServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(settings, only=["grammars"])
    for path, served in list(server.files.items()):
        if path.startswith("/raw/data/grammars/"):
            server.files[path.replace("/raw/data/", "/raw/v2/data/")] = served
    monkeypatch.setenv("OFF_ROBOTOFF_DATA_URL", server.url("/raw/v2/data"))
    report = refresh(get_settings(), only=["grammars"])
    assert set(statuses(report).values()) == {Status.updated}
    assert all(r["path"].startswith("/raw/v2/") for r in server.requests[-7:])


def test_stale_temp_files_are_swept(server: DumpServer, settings: Settings) -> None:
    settings.keywords_dir.mkdir(parents=True)
    orphan = settings.keywords_dir / ".brand.txt.abc123.tmp"
    orphan.write_bytes(b"half")
    fresh_orphan = settings.keywords_dir / ".brand.txt.def456.tmp"
    fresh_orphan.write_bytes(b"being written by another run")
    import os

    os.utime(orphan, (0, 0))
    refresh(settings, only=["brand.txt"])
    assert not orphan.exists() and fresh_orphan.exists()


def test_only_accepts_names_files_and_groups(server: DumpServer, settings: Settings) -> None:
    report = refresh(settings, only=["categories", "labels.full.json.gz", "grammars"])
    assert [f.name for f in report.files][:2] == ["categories", "labels"]
    assert len(report.files) == 2 + 7
    with pytest.raises(UnknownReferenceError, match="nope"):
        refresh(settings, only=["nope"])


def test_report_is_json_serializable(server: DumpServer, settings: Settings) -> None:
    report = refresh(settings, only=["brand.txt"])
    data = orjson.loads(orjson.dumps(report.to_dict()))
    assert data["ok"] is True and data["counts"] == {"downloaded": 1} and data["failed"] == []
    entry = data["files"][0]
    assert entry["status"] == "downloaded" and entry["path"].endswith("ocr-keywords/brand.txt")
    assert meta_path(settings.keywords_dir / "brand.txt").is_file()


def test_resources_load_the_installed_files(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    resources = Resources(settings.keywords_dir, settings.taxonomy_dir, grammars_dir=settings.grammars_dir)
    assert resources.label_keywords.clean["bio"] == ("en:organic", "bio")
    assert resources.curated_brands.clean == {
        "auchan production": ("auchan", "Auchan")
    }  # coca-cola: blacklist
    assert set(resources.taxonomy_brands.clean) == {"1001 delights", "2bio"}  # digits-only names dropped
    assert ("auchan", "3596710xxxxxx") in resources.brand_prefixes
    assert len(resources.fishing_codes) == 2
    assert resources.label_logos == {"label ab": "fr:ab-agriculture-biologique"}
    assert resources.image_flag_keywords.clean["fumer tue"] == ("fumer tue", "miscellaneous")
    assert resources.category_ids == {"en:categories-root", "en:categories-leaf"}
    assert resources.taxonomy("labels")["en:labels-leaf"].parents[0].id == "en:labels-root"
    grammar = resources.packaging_grammar
    assert grammar.tags["material"] == {"verre": ["en:glass"]}
    assert grammar.parser.parse("bouteille verre").children[0].data == "packaging"


def test_default_resources_use_the_configured_folders(server: DumpServer, settings: Settings) -> None:
    refresh(settings)
    resources = default_resources()
    assert resources.keywords_dir == settings.keywords_dir
    assert resources.taxonomy_dir == settings.taxonomy_dir
    assert resources.grammars_dir == settings.grammars_dir == settings.data_dir / "grammars"
    assert len(resources.label_keywords) == 3
    assert resources.packaging_grammar.tags["shape"] == {"bouteille": ["en:bottle"]}
