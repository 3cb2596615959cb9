"""``offpipe insights apply``: the write-back run of a flavor's due insights (docs/annotate.md)."""

from __future__ import annotations

import json

import typer

_STORE_HELP = (
    "Store: a DuckDB file or postgresql://… Default: OFF_STORE_URL, else $OFF_DATA_DIR/store.duckdb."
)


def apply_command(
    flavor: str = typer.Option("off", "--flavor", help="off, obf, opff or opf."),
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many due insights per run."),
    rate: float = typer.Option(2.0, "--rate", min=0.01, help="At most this many calls per second."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only plan, whatever OFF_APPLY_MODE says (its default is plan too)."
    ),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Apply the due automatic insights to Product Opener (Robotoff's 2-minute job), or plan it.

    OFF_APPLY_MODE=apply sends the calls (as OFF_USER, password OFF_PASSWORD); plan, the default, writes them
    under $OFF_DATA_DIR/reports/apply/<flavor>/ and sends nothing. Prints the run's counts as JSON.
    """
    from pipelines.annotate.job import Mode, apply_due_insights
    from pipelines.common.config import Flavor, get_settings

    try:
        chosen = Flavor(flavor)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown flavor {flavor!r}", param_hint="--flavor") from exc
    settings = get_settings()
    mode = Mode.plan if dry_run else Mode(settings.apply_mode)
    report = apply_due_insights(chosen, mode=mode, limit=limit, rate=rate, store=store, settings=settings)
    typer.echo(json.dumps(report.to_dict(), indent=2))


def annotate_command(
    insight: str = typer.Argument(..., help="The insight's id (a UUID)."),
    value: int = typer.Option(
        ...,
        "--value",
        help="1 accepts (and writes to Product Opener), 2 accepts with --data, 0 refuses, -1 skips.",
    ),
    data: str | None = typer.Option(
        None, "--data", help='With --value 2: the operator\'s value as JSON, e.g. {"value_tag": "en:jams"}.'
    ),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Annotate one insight as an operator; accepting it writes it to Product Opener as OFF_USER.

    Prints the outcome as JSON; a write Product Opener refused or could not take, or invalid data, records
    nothing and exits with code 1.
    """
    from pipelines.annotate.manual import annotate_insight
    from pipelines.annotate.results import AnnotationStatus

    parsed = None
    if data is not None:
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc.msg}", param_hint="--data") from None
        if not isinstance(parsed, dict):
            raise typer.BadParameter("a JSON object expected", param_hint="--data")
    outcome = annotate_insight(insight, value, data=parsed, store=store)
    typer.echo(json.dumps({"insight": insight, "status": outcome.status.name, "detail": outcome.detail}))
    if outcome.status in (AnnotationStatus.error_failed_update, AnnotationStatus.error_invalid_data):
        raise typer.Exit(1)
