"""End to end against a real ``prefect server``: ``offpipe nightly`` runs on a small synthetic dump, and the
server's API shows the completed run and its artifacts with the right counts.

The server runs as a subprocess on 127.0.0.1 with a temporary PREFECT_HOME and SQLite database; the nightly
job runs in another process pointed at it with PREFECT_API_URL, as a scheduled run would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipelines.synth.generator import SynthSpec, generate

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of a ``prefect server start`` subprocess, stopped after the module."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server not up after {STARTUP_SECONDS} s")
            time.sleep(0.5)
        yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _filter(api: str, resource: str, body: dict) -> list[dict]:
    response = requests.post(f"{api}/{resource}/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def test_nightly_run_is_visible_through_the_server_api(
    prefect_server: str, tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    source, data = tmp_path / "source", tmp_path / "data"
    source.mkdir()
    spec = SynthSpec(products=120, seed=13, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, source / "products.jsonl.gz", ocr_out=source / "ocr.jsonl.gz")
    env = os.environ | {
        "PREFECT_API_URL": prefect_server,
        "OFF_DATA_DIR": str(data),
        "OFF_KEYWORDS_DIR": str(keywords_dir),
        "OFF_TAXONOMY_DIR": str(taxonomy_dir),
    }
    env.pop("MONGO_URI", None)
    args = ["nightly", "--url", str(source / "products.jsonl.gz"), "--min-lines", "0"]
    args += ["--ocr", str(source / "ocr.jsonl.gz")]
    done = subprocess.run(
        [str(BIN / "offpipe"), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["outcome"] == "completed"

    runs = _filter(prefect_server, "flow_runs", {"flow_runs": {"name": {"any_": ["nightly-off"]}}})
    assert [run["state_type"] for run in runs] == ["COMPLETED"]
    children = _filter(
        prefect_server, "flow_runs", {"flow_runs": {"parent_flow_run_id": {"any_": [runs[0]["id"]]}}}
    )
    names = {run["name"] for run in children}
    assert {"download-off", "convert-off", "audit-barcodes-off", "refresh-off", "quality-facets-off"} <= names
    assert all(run["state_type"] == "COMPLETED" for run in children)

    [counts] = _filter(prefect_server, "artifacts", {"artifacts": {"key": {"any_": ["nightly-off-counts"]}}})
    rows = counts["data"] if isinstance(counts["data"], list) else json.loads(counts["data"])
    table = {(row["step"], row["count"]): row["value"] for row in rows}
    steps = summary["steps"]
    assert table[("convert", "rows out")] == steps["convert"]["rows_out"] == 120
    assert table[("refresh", "products")] == steps["refresh"]["refresh"]["products"] > 100
    assert table[("predict", "images predicted")] == steps["refresh"]["predict"]["images"] > 0
    created = sum(v for (step, name), v in table.items() if step == "refresh" and name.startswith("created:"))
    assert created == steps["refresh"]["totals"]["created"] > 0
    [markdown] = _filter(prefect_server, "artifacts", {"artifacts": {"key": {"any_": ["nightly-off"]}}})
    assert "Outcome: **completed**" in markdown["data"]
    for key in ("convert-off", "barcode-audit-off", "refresh-off", "fiber-facets-off"):
        assert _filter(prefect_server, "artifacts", {"artifacts": {"key": {"any_": [key]}}}), key
