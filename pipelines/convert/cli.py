"""``offpipe convert``: a dump file → the flavor's Parquet snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def convert_command(
    file: Path | None = typer.Argument(
        None, help="Dump (.jsonl or .jsonl.gz). Default: the flavor's downloaded dump."
    ),
    flavor: str = typer.Option("off", "--flavor", "-f", help="off, obf, opff or opf."),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Default: $OFF_DATA_DIR/parquet/<flavor>."),
    threads: int | None = typer.Option(None, min=1, help="DuckDB threads (default: all cores)."),
    batch_rows: int = typer.Option(6_144, min=1, help="Lines per DuckDB batch."),
    min_rows: int | None = typer.Option(
        None, "--min-rows", min=0, help="Minimum row count (default: OFF_DUMP_MIN_LINES_<FLAVOR>; 0 = off)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Accept a snapshot smaller than OFF_SNAPSHOT_MIN_RATIO of the previous one."
    ),
) -> None:
    """Convert a JSONL dump to Parquet (explicit schema, bad lines quarantined); prints the report as JSON.

    An empty or implausibly small snapshot is refused (exit 1) and the previous one kept: see docs/dumps.md.
    """
    from pipelines.common.config import Flavor, get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.convert.convert import ConvertOptions, convert_dump
    from pipelines.download.dump import DUMP_NAME

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}") from exc
    settings = get_settings()
    source = file or settings.dump_dir(chosen) / DUMP_NAME
    if not source.is_file():
        raise typer.BadParameter(
            f"no dump at {source} (run `offpipe download --flavor {chosen.value}` first)"
        )
    options = ConvertOptions(batch_rows=batch_rows, threads=threads)
    with progress_bar(f"converting {source.name}", None) as advance:
        report = convert_dump(
            source,
            chosen,
            out_dir=out_dir,
            settings=settings,
            options=options,
            progress=advance,
            min_rows=min_rows,
            force=force,
        )
    typer.echo(json.dumps(report.to_dict(), indent=2))
