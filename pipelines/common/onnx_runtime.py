"""onnxruntime, imported with its telemetry off: import ``ort`` (and ``ort_state``) from here, never directly.

onnxruntime's telemetry writes a device id and a SQLite file under ``$HOME/.cache`` when the module is
imported (creating ``$HOME`` if missing), and the pipeline writes nothing outside ``$OFF_DATA_DIR`` and the
system temp folder (docs/reliability.md). The switch is an environment variable read at import, so it must
be set first, in one place: here. ``tests/pipelines/common/test_onnx_runtime.py`` imports and runs every ONNX
path with ``HOME`` pointing at a missing folder and checks that it stays missing, and that nothing else
imports onnxruntime directly.
"""

from __future__ import annotations

import logging
import sys

from pipelines.common.config import disable_onnxruntime_telemetry

logger = logging.getLogger(__name__)

if "onnxruntime" in sys.modules:  # too late for the switch: its telemetry may have written under $HOME
    logger.warning(
        "onnxruntime was imported before pipelines.common.onnx_runtime: its telemetry was not disabled"
    )
disable_onnxruntime_telemetry()

import onnxruntime as ort  # noqa: E402
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state  # noqa: E402

ort.disable_telemetry_events()  # the session-level switch as well

__all__ = ["ort", "ort_state"]
