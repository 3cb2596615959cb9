"""Errors of the conversion (a module of their own so that the guard and the conversion share them)."""

from __future__ import annotations

from pipelines.common.errors import OffpipeError


class ConversionError(OffpipeError, RuntimeError):
    """The conversion could not produce a complete, balanced snapshot; the previous one is untouched."""


class SnapshotRefusedError(ConversionError):
    """The new snapshot is complete but implausible; ``check`` says which check refused it (``no_rows``,
    ``min_rows`` or ``shrink``) and the other attributes give the figures it compared."""

    def __init__(
        self,
        message: str,
        *,
        check: str,
        rows: int,
        min_rows: int,
        previous_rows: int | None,
        min_ratio: float,
    ) -> None:
        super().__init__(message)
        self.check = check
        self.rows = rows
        self.min_rows = min_rows
        self.previous_rows = previous_rows
        self.min_ratio = min_ratio

    def figures(self) -> dict:
        """The refusal as JSON-ready data (the flow returns it in its failure)."""
        return {
            "check": self.check,
            "rows": self.rows,
            "min_rows": self.min_rows,
            "previous_rows": self.previous_rows,
            "min_ratio": self.min_ratio,
        }
