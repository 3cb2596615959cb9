"""The annotation stage's errors."""

from __future__ import annotations

from pipelines.common.errors import OffpipeError


class AnnotateError(OffpipeError):
    """An annotation that cannot be carried out as asked."""


class UnsupportedInsightError(AnnotateError, ValueError):
    """An insight type offpipe does not write back to Product Opener (yet)."""


class CredentialsMissingError(AnnotateError, ValueError):
    """A write to Product Opener without ``OFF_USER`` and ``OFF_PASSWORD`` set."""


class InvalidDataError(AnnotateError, ValueError):
    """An operator's data that does not fit the insight's type (Robotoff's ``error_invalid_data``)."""
