"""The ``offpipe`` command line: every command has --help, synth and barcode commands work end to end."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def _command_paths() -> list[list[str]]:
    """Every command and sub-command of the app, as argument lists."""
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():  # groups (Typer vendors its own click)
            walk(sub, [*prefix, name])

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "offpipe")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_expected_commands_exist() -> None:
    names = {" ".join(p) for p in _command_paths()}
    assert {"synth", "barcode", "barcode normalize", "config"} <= names


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("offpipe")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "synth" in result.stdout


def test_barcode_normalize() -> None:
    result = runner.invoke(app, ["barcode", "normalize", "0006", "12", "--flavor", "obf"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0]["normalized"] == "00000006"
    assert lines[0]["path"] == "000/000/000/0006"
    assert (
        lines[0]["image_url"] == "https://images.openbeautyfacts.org/images/products/000/000/000/0006/1.jpg"
    )
    assert lines[1] == {
        "raw": "12",
        "normalized": "00000012",
        "valid": False,
        "path": "invalid",
        "accepted": False,
        "image_url": None,
        "legacy_path": "invalid",
    }


def test_barcode_normalize_shows_product_openers_rule_but_accepts_only_clean_codes() -> None:
    """Junk keeps its lenient normalization (what Product Opener would store) but is not accepted from outside
    and gets no URL (``docs/reliability.md`` F24); a GS1 form is accepted."""
    result = runner.invoke(
        app, ["barcode", "normalize", "3017620422003'; DROP", "(01)03017620422003(17)251231"]
    )
    assert result.exit_code == 0, result.output
    junk, gs1 = (json.loads(line) for line in result.output.splitlines())
    assert (junk["normalized"], junk["valid"], junk["accepted"], junk["image_url"]) == (
        "3017620422003", True, False, None
    )  # fmt: skip
    assert (gs1["normalized"], gs1["accepted"]) == ("3017620422003", True)
    assert gs1["image_url"] == "https://images.openfoodfacts.org/images/products/301/762/042/2003/1.jpg"


def test_synth_generates_and_profiles(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "d.jsonl.gz"
    truth = tmp_path / "t.jsonl.gz"
    result = runner.invoke(
        app,
        [
            "synth",
            "-n",
            "120",
            "--seed",
            "4",
            "--out",
            str(out),
            "--truth-out",
            str(truth),
            "--bad-line-rate",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["products"] == 120
    assert summary["lines"] == 120 + sum(summary["bad_lines"].values())
    assert summary["mean_document_bytes"] > 8000
    assert len(gzip.decompress(truth.read_bytes()).splitlines()) == 120

    result = runner.invoke(app, ["synth", "--profile", str(out), "--profile", str(out), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "[1]" in result.output and "[2]" in result.output
    assert "documents=120" in result.output

    result = runner.invoke(app, ["synth", "--profile", str(out), "--json"])
    profile = json.loads(result.output)[0]
    assert profile["documents"] == 120
    assert profile["fields"]["code"]["rate"] == 1.0


def test_synth_default_output_is_under_the_data_dir(data_dir: Path) -> None:
    result = runner.invoke(app, ["synth", "-n", "5"])
    assert result.exit_code == 0, result.output
    assert (data_dir / "synth" / "products.jsonl.gz").is_file()


def test_synth_rejects_a_bad_mix(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "-n", "5", "--out", str(tmp_path / "x.jsonl"), "--barcode-mix", "qr=1"]
    )
    assert result.exit_code != 0
    assert "unknown barcode kind" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_config_masks_secrets(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("MONGO_URI", "mongodb://robot:s3cret@db.example:27017/off")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.output)
    assert "s3cret" not in result.output
    assert config["MONGO_URI"] == "mongodb://robot:***@db.example:27017/off"
    assert config["OFF_DATA_DIR"] == str(data_dir)


def _offpipe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("offpipe"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args",
    [
        ["synth", "-n", "5"],
        ["convert", "{sample}"],
        ["download", "--flavor", "off", "--url", "file://{sample}"],
    ],
    ids=["synth", "convert", "download"],
)
def test_an_unwritable_data_folder_is_one_error_line(
    args: list[str], tmp_path: Path, real_off_sample: Path
) -> None:
    """Any command: an OSError (here ENOTDIR: the data folder is under a regular file — we run as root,
    for whom permission bits forbid nothing) is one line on stderr and exit code 1, not a traceback."""
    (tmp_path / "a-file").write_text("not a folder")
    env = os.environ | {"OFF_DATA_DIR": str(tmp_path / "a-file" / "data")}
    done = _offpipe([arg.format(sample=real_off_sample) for arg in args], env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # one line
    assert done.stderr.startswith("error: [Errno 20] Not a directory: ")


def test_a_store_duckdb_cannot_open_is_one_error_line(
    tmp_path: Path, real_off_sample: Path, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    env = os.environ | {
        "OFF_DATA_DIR": str(tmp_path / "data"),
        "OFF_KEYWORDS_DIR": str(keywords_dir),
        "OFF_TAXONOMY_DIR": str(taxonomy_dir),
        "OFF_GRAMMARS_DIR": str(keywords_dir.parent / "grammars"),
    }
    assert _offpipe(["convert", str(real_off_sample)], env).returncode == 0
    (tmp_path / "data" / "store.duckdb").write_text("not a database")
    done = _offpipe(["refresh", "--no-predict"], env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error: IO Error: ") and "not a valid DuckDB database" in done.stderr


def test_usage_errors_stay_typers(tmp_path: Path) -> None:
    done = _offpipe(["convert", "--flavor", "nope", str(tmp_path)], os.environ | {"COLUMNS": "200"})
    assert done.returncode == 2
    assert "Usage:" in done.stderr and "unknown flavor" in done.stderr
