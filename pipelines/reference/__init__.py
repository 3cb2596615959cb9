"""Reference data downloaded at run time: OFF taxonomies, Robotoff's keyword lists and grammars.

``refresh.refresh_reference_data`` is the entry point; ``catalog`` lists the files and where they go,
``validate`` checks a downloaded body before it may replace the installed copy, ``meta`` keeps each file's
sidecar. Nothing heavy is imported here so that the CLI stays fast to start; the entry point and its report
types are re-exported lazily (``from pipelines.reference import refresh_reference_data`` works).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "refresh_reference_data": "pipelines.reference.refresh",
    "ReferenceReport": "pipelines.reference.refresh",
    "FileReport": "pipelines.reference.refresh",
    "ReferenceDataError": "pipelines.reference.refresh",
    "ReferenceFile": "pipelines.reference.catalog",
    "reference_files": "pipelines.reference.catalog",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the public names on first use (PEP 562), not when the CLI imports this package."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
