"""The one base of every error the pipeline raises on purpose.

Why: the command line (``pipelines/cli.py``) catches this single type and turns it into one line
``error: …`` with exit code 1, so a stage that adds an error class needs no change there; anything else
that escapes is a bug and keeps its traceback. Stage errors keep their stdlib base as well (``ValueError``,
``FileNotFoundError``…) through multiple inheritance, so callers catching those still work.
"""

from __future__ import annotations


class OffpipeError(Exception):
    """An expected failure of a pipeline stage, with a message meant for the operator."""
