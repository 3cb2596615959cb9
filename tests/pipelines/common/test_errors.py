"""Every error a stage raises on purpose is an OffpipeError, and the command line turns one into one line."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pipelines
from pipelines import cli
from pipelines.common.errors import OffpipeError

# Defined in modules another change owns; they join the rule when those modules are next edited.
NOT_YET: set[str] = set()


def _error_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(pipelines.__path__, "pipelines."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and name.endswith("Error")
                and not name.startswith("_")
            ):
                found.append(value)
    return found


def test_every_stage_error_is_an_offpipe_error() -> None:
    classes = _error_classes()
    assert len(classes) >= 30  # the walk did reach the stages
    outside = sorted(
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if not issubclass(c, OffpipeError) and f"{c.__module__}.{c.__qualname__}" not in NOT_YET
    )
    assert outside == []


def test_stage_errors_keep_their_stdlib_base() -> None:
    from pipelines.common.sql import SqlNotFoundError
    from pipelines.reference.catalog import UnknownReferenceError

    assert issubclass(SqlNotFoundError, FileNotFoundError)
    assert issubclass(UnknownReferenceError, ValueError)


class _StageError(OffpipeError):
    pass


def test_an_offpipe_error_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing() -> None:
        raise _StageError("the snapshot\n  is missing")

    monkeypatch.setattr(cli.app, "registered_commands", [*cli.app.registered_commands])
    cli.app.command("fail-for-test")(failing)
    result = CliRunner().invoke(cli.app, ["fail-for-test"])
    assert result.exit_code == 1
    assert result.output == "error: the snapshot is missing\n"
    assert not isinstance(result.exception, _StageError)  # handled, not escaped


def test_a_stage_error_from_the_installed_command_is_one_line(data_dir: Path) -> None:
    """The console script, end to end: the download stage's DownloadError is one line and exit code 1."""
    exe = str(Path(sys.executable).with_name("offpipe"))
    missing = data_dir / "no-such-dump.jsonl.gz"
    done = subprocess.run(
        [exe, "download", "--flavor", "off", "--url", str(missing)],
        env=os.environ | {"OFF_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr == f"error: no dump file at {missing}\n"
