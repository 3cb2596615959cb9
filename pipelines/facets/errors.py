"""Errors of the facet stage."""

from __future__ import annotations

from pipelines.common.errors import OffpipeError


class UnsupportedFlavorError(OffpipeError, ValueError):
    """The fiber facet is only written for the flavors of :data:`~pipelines.facets.plan.FACET_FLAVORS`."""
