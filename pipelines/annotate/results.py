"""What an annotation ends with, as Robotoff records it in ``product_insight.annotated_result``.

The codes are Robotoff's ``AnnotationStatus`` (release 1.85.10, ``robotoff/insights/annotate.py``), so a
store shared with Robotoff reads the same numbers whoever wrote them. Robotoff records the result for the
codes of :data:`RECORDED`; a failed write (:attr:`AnnotationStatus.error_failed_update`) is rolled back and
left for a later run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class AnnotationStatus(IntEnum):
    saved = 1
    updated = 2
    error_missing_product = 3
    error_updated_product = 4
    error_already_annotated = 5
    error_unknown_insight = 6
    error_invalid_image = 8
    vote_saved = 9
    error_failed_update = 10
    error_invalid_data = 11
    user_input_updated = 12
    cannot_vote = 13


RECORDED = frozenset(
    {
        AnnotationStatus.saved,
        AnnotationStatus.updated,
        AnnotationStatus.user_input_updated,
        AnnotationStatus.error_invalid_image,
        AnnotationStatus.error_missing_product,
        AnnotationStatus.error_updated_product,
    }
)


@dataclass(frozen=True)
class Outcome:
    """One annotation's result: its status, a sentence for the operator, and whether trying again later can
    help (a 5xx answer, a timeout, a lost connection)."""

    status: AnnotationStatus
    detail: str = ""
    transient: bool = False

    @property
    def recorded(self) -> bool:
        return self.status in RECORDED
