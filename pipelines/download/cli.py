"""``offpipe download``: bring a flavor's dump up to date."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer


def download_command(
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    url: str | None = typer.Option(
        None, "--url", help="Override the dump URL: http(s)://, file:// or a path."
    ),
    force: bool = typer.Option(False, "--force", help="Download even if the server says it is unchanged."),
    min_lines: int | None = typer.Option(
        None, "--min-lines", min=0, help="Minimum line count (default: OFF_DUMP_MIN_LINES_<FLAVOR>; 0 = off)."
    ),
) -> None:
    """Download (or confirm unchanged) a flavor's JSONL dump; prints the result as JSON."""
    from pipelines.common.config import Flavor
    from pipelines.common.logs import progress_bar
    from pipelines.download.dump import download_dump

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    with progress_bar(f"downloading {chosen.value} dump", None) as advance:
        result = download_dump(chosen, url=url, force=force, min_lines=min_lines, progress=advance)
    out = {"status": result.status, "path": str(result.path), "resumed_from": result.resumed_from}
    out["attempts"] = result.attempts
    out["meta"] = asdict(result.meta)
    typer.echo(json.dumps(out, indent=2))
