"""``offpipe synth``: generate a synthetic dump, or profile dumps side by side."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import typer

logger = logging.getLogger(__name__)


def synth_command(
    products: int = typer.Option(1000, "--products", "-n", min=0, help="Number of products to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives byte-identical files."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Dump to write (.jsonl or .jsonl.gz). Default: $OFF_DATA_DIR/synth/products.jsonl.gz",
    ),
    ocr_out: Path | None = typer.Option(
        None, "--ocr-out", help="Also write an OCR archive (one line per image)."
    ),
    truth_out: Path | None = typer.Option(
        None, "--truth-out", help="Also write the planted-facts truth file."
    ),
    ocr_rate: float = typer.Option(
        1.0, "--ocr-rate", min=0.0, max=1.0, help="Share of products whose images go to the OCR archive."
    ),
    bad_line_rate: float = typer.Option(
        0.0, "--bad-line-rate", min=0.0, max=1.0, help="Share of products preceded by a malformed line."
    ),
    huge_line: bool = typer.Option(False, "--huge-line", help="Append one valid line larger than 16 MB."),
    barcode_mix: str | None = typer.Option(
        None, "--barcode-mix", help="Barcode kind shares, e.g. 'ean13=0.7,ean8=0.1,bogus=0.05'."
    ),
    new_schema_rate: float = typer.Option(
        0.10, min=0.0, max=1.0, help="Share of 2026 documents (schema 1003, new images/nutrition)."
    ),
    image_rate: float = typer.Option(0.5, min=0.0, max=1.0, help="Share of products with images."),
    flavor: str = typer.Option(
        "off", help="Flavor: sets product_type (off=food, obf=beauty, opff=petfood…)."
    ),
    workers: int | None = typer.Option(None, min=1, help="Worker processes (default: 2 for big runs)."),
    compresslevel: int = typer.Option(3, min=1, max=9, help="gzip level of .gz outputs."),
    profile: list[Path] | None = typer.Option(
        None, "--profile", help="Profile these dumps instead of generating (repeat to compare)."
    ),
    top: int = typer.Option(60, help="With --profile: number of fields shown."),
    limit: int | None = typer.Option(None, help="With --profile: read only the first N lines."),
    as_json: bool = typer.Option(False, "--json", help="With --profile: print the full profile as JSON."),
) -> None:
    """Generate a realistic synthetic Product Opener dump (deterministic for a seed), or profile dumps."""
    if profile:
        _profile(profile, top=top, limit=limit, as_json=as_json)
        return
    from pipelines.common.config import FLAVOR_PRODUCT_TYPES, Flavor, get_settings
    from pipelines.common.logs import progress_bar
    from pipelines.synth.codes import MixError, parse_mix
    from pipelines.synth.document import DocumentOptions
    from pipelines.synth.generator import SynthSpec, generate

    settings = get_settings()
    try:
        mix = parse_mix(barcode_mix)
        chosen = Flavor(flavor)
    except (MixError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    out = out or settings.data_dir / "synth" / "products.jsonl.gz"
    spec = SynthSpec(
        products=products,
        seed=seed,
        bad_line_rate=bad_line_rate,
        huge_line=huge_line,
        mix=mix,
        options=DocumentOptions(
            flavor=chosen.value,
            product_type=FLAVOR_PRODUCT_TYPES[chosen],
            new_schema_rate=new_schema_rate,
            image_rate=image_rate,
        ),
        taxonomy_dir=settings.taxonomy_dir,
        keywords_dir=settings.keywords_dir,
        ocr_rate=ocr_rate,
    )
    started = time.perf_counter()
    with progress_bar("generating products", products) as advance:
        report = generate(
            spec,
            out,
            ocr_out=ocr_out,
            truth_out=truth_out,
            workers=workers,
            compresslevel=compresslevel,
            progress=advance,
        )
    elapsed = time.perf_counter() - started
    summary = report.to_dict() | {
        "out": str(out),
        "ocr_out": str(ocr_out) if ocr_out else None,
        "truth_out": str(truth_out) if truth_out else None,
        "seconds": round(elapsed, 2),
        "documents_per_second": round(products / elapsed, 1) if elapsed else None,
        "mean_document_bytes": round(report.bytes_uncompressed / products) if products else 0,
    }
    typer.echo(json.dumps(summary, indent=2))


def _profile(paths: list[Path], *, top: int, limit: int | None, as_json: bool) -> None:
    from pipelines.common.logs import progress_bar
    from pipelines.synth.profile import format_profiles, profile_file

    profiles = []
    for path in paths:
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--profile")
        with progress_bar(f"profiling {path.name}", None) as advance:
            profiles.append(profile_file(path, limit=limit, progress=advance))
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in profiles], indent=2))
    else:
        typer.echo(format_profiles(profiles, top=top))
