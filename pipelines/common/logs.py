"""Logging and progress display for command-line runs.

Library code only logs (``logging.getLogger(__name__)``) and reports progress through a callback; the CLI
decides how to show both: a rich handler and a progress bar on a terminal, plain lines otherwise (CI, cron,
Prefect workers).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


def configure_cli_logging(verbose: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG with ``verbose``."""
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if _console.is_terminal:
        handler = RichHandler(console=_console, show_path=False, rich_tracebacks=True)
        fmt = "%(message)s"
    else:
        handler = _StderrHandler()
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, handlers=[handler], force=True)
    if not verbose:  # one line per HTTP request to the Prefect API drowns the pipeline's own messages
        logging.getLogger("httpx").setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was when logging was configured: a
    command run in-process by a caller that swaps stderr (a test runner capturing output) would otherwise
    keep writing to a stream that caller has since closed."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ and setStream assign it: ignored
        pass


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A callback advancing a progress bar on a terminal (a no-op elsewhere)."""
    if not _console.is_terminal:
        yield lambda _n: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=_console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
