"""``offpipe reference``: download the reference data (taxonomies, keyword lists, grammars) and cache it."""

from __future__ import annotations

import json
import sys

import typer

reference_app = typer.Typer(help="Reference data: OFF taxonomies, Robotoff's keyword lists and grammars.")


@reference_app.command("refresh")
def refresh_command(
    force: bool = typer.Option(
        False, "--force", help="Download every file again, ignoring its age and the server's validators."
    ),
    only: list[str] | None = typer.Option(
        None,
        "--only",
        help="Refresh only this file: a taxonomy (categories), a file (brand.txt) or a group "
        "(taxonomies, keywords, grammars). Repeatable.",
    ),
    max_age_hours: float = typer.Option(
        2.0, "--max-age-hours", min=0, help="Skip files checked less than this many hours ago."
    ),
) -> None:
    """Bring the reference files up to date; prints the report as JSON.

    Exits 1 when a required file could not be downloaded and no previous copy exists; failures that left
    a previous copy in place are reported (``ok`` false) with exit code 0.
    """
    from datetime import timedelta

    from pipelines.reference.catalog import UnknownReferenceError
    from pipelines.reference.refresh import ReferenceDataError, refresh_reference_data

    try:
        report = refresh_reference_data(
            force=force, only=only or None, max_age=timedelta(hours=max_age_hours)
        )
    except UnknownReferenceError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    except ReferenceDataError as exc:
        typer.echo(json.dumps(exc.report.to_dict(), indent=2))
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    typer.echo(json.dumps(report.to_dict(), indent=2))
