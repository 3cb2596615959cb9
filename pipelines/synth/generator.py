"""The synthetic dump generator: deterministic for a seed, streaming, parallel, written atomically.

Products are generated in chunks of :data:`CHUNK` products. Everything about product ``i`` derives from
``(seed, i)`` and the barcode kind counts of the chunks before it, which the parent process computes
sequentially (a cheap pass over per-chunk draws). Chunks can therefore be built by worker processes in any
order and written in order: the output is byte-identical whatever the number of workers, and memory stays
bounded by the chunks in flight, so 5M products stream in constant memory.

Outputs (each written to ``<name>.tmp`` and renamed when complete):

- the dump, one Product Opener JSON document per line, with malformed lines injected at ``bad_line_rate``;
- the OCR archive, one line per OCR'd image: ``{"source": "/<folders>/<imgid>.json", "content": <GCV>}``;
- the truth file, one line per generated product with its barcode kind and the facts planted in it.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import orjson

from pipelines import barcodes
from pipelines.synth.codes import CONFLICT_PARTNER, DEFAULT_MIX, assign_kinds, make_code
from pipelines.synth.document import Built, DocumentBuilder, DocumentOptions
from pipelines.synth.ocr import build_response
from pipelines.synth.vocab import load_vocabulary, vocabulary_source

logger = logging.getLogger(__name__)

CHUNK = 1000
HUGE_LINE_BYTES = 17 * 1024 * 1024
BAD_KINDS = ("truncated", "array", "scalar", "invalid_utf8", "empty_object_text")


@dataclass(frozen=True)
class SynthSpec:
    """What to generate. ``mix`` maps barcode kinds to shares (see ``codes.DEFAULT_MIX``)."""

    products: int
    seed: int = 0
    bad_line_rate: float = 0.0
    huge_line: bool = False
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    options: DocumentOptions = field(default_factory=DocumentOptions)
    taxonomy_dir: Path = Path("data/taxonomies")
    keywords_dir: Path = Path("data/ocr-keywords")
    with_ocr: bool = False
    # Share of products whose images are in the OCR archive (drawn per product from its own seed, so the
    # products themselves do not change): a demo can keep its OCR step short.
    ocr_rate: float = 1.0
    with_truth: bool = False
    # gzip level of each output (dump, OCR, truth); None writes plain text. Set by generate() from the names.
    gzip_levels: tuple[int | None, int | None, int | None] = (None, None, None)


@dataclass
class ChunkResult:
    """One chunk's lines; ``blobs`` holds them ready to append to each output (gzip members when .gz)."""

    index: int
    products: list[bytes]
    ocr: list[bytes]
    truth: list[bytes]
    stats: Counter
    blobs: tuple[bytes, bytes, bytes] = (b"", b"", b"")

    def seal(self, levels: tuple[int | None, int | None, int | None]) -> ChunkResult:
        """Join (and compress, in the worker) each output's lines; drop the line lists.

        Each chunk becomes one gzip member: a multi-member gzip file is standard (gzip, zcat, Python, DuckDB
        and Polars read it), and compressing in the workers keeps the parent from being the bottleneck.
        ``mtime=0`` keeps the files byte-identical for a seed.
        """
        blobs = []
        for lines, level in zip((self.products, self.ocr, self.truth), levels, strict=True):
            raw = b"\n".join(lines) + b"\n" if lines else b""
            blobs.append(gzip.compress(raw, compresslevel=level, mtime=0) if raw and level else raw)
        self.stats["lines"] = len(self.products)
        self.products, self.ocr, self.truth = [], [], []
        self.blobs = (blobs[0], blobs[1], blobs[2])
        return self


@dataclass
class SynthReport:
    """Counts of one generation run (printed by the CLI, asserted by tests)."""

    products: int = 0
    lines: int = 0
    bad_lines: dict[str, int] = field(default_factory=dict)
    barcode_kinds: dict[str, int] = field(default_factory=dict)
    conflict_pairs: int = 0
    ocr_images: int = 0
    facts: dict[str, int] = field(default_factory=dict)
    bytes_uncompressed: int = 0
    vocabulary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- per-process state ---------------------------------------------------------------------------------------

_BUILDER: DocumentBuilder | None = None
_SPEC: SynthSpec | None = None


def _init_worker(spec: SynthSpec) -> None:
    global _BUILDER, _SPEC
    vocab = load_vocabulary(spec.taxonomy_dir, spec.keywords_dir)
    _BUILDER = DocumentBuilder(vocab, spec.options, spec.seed)
    _SPEC = spec


def chunk_kinds(spec: SynthSpec, chunk: int) -> list[str]:
    """Barcode kinds of the products of ``chunk`` (a pure function of the seed and the chunk number)."""
    size = min(CHUNK, spec.products - chunk * CHUNK)
    rng = random.Random(f"{spec.seed}:kinds:{chunk}")
    return assign_kinds(spec.mix, [rng.random() for _ in range(size)])


def _build_chunk(task: tuple[int, list[str], dict[str, int]]) -> ChunkResult:
    chunk, kinds, offsets = task
    assert _BUILDER is not None and _SPEC is not None
    spec, builder = _SPEC, _BUILDER
    ranks = dict(offsets)
    result = ChunkResult(chunk, [], [], [], Counter())
    bad_rng = random.Random(f"{spec.seed}:bad:{chunk}")
    partner_of: str | None = None
    for position, kind in enumerate(kinds):
        index = chunk * CHUNK + position
        rank_kind = "conflict" if kind == CONFLICT_PARTNER else kind
        rank = ranks.get(rank_kind, 0) - (1 if kind == CONFLICT_PARTNER else 0)
        if kind != CONFLICT_PARTNER:
            ranks[rank_kind] = rank + 1
        code = make_code(kind, rank)
        built = builder.build(code.raw, random.Random(f"{spec.seed}:{index}"))
        line = orjson.dumps(built.doc)
        if spec.bad_line_rate and bad_rng.random() < spec.bad_line_rate:
            bad_kind = bad_rng.choice(BAD_KINDS)
            bad = _bad_line(bad_kind, line, bad_rng)
            result.products.append(bad)
            result.stats[f"bad:{bad_kind}"] += 1
            result.stats["bytes"] += len(bad) + 1
        result.products.append(line)
        result.stats["bytes"] += len(line) + 1
        result.stats[f"kind:{kind}"] += 1
        conflict_with = partner_of if kind == CONFLICT_PARTNER else None
        partner_of = code.raw if kind == "conflict" else None
        if kind == CONFLICT_PARTNER:
            result.stats["conflict_pairs"] += 1
        # A conflict partner shares its twin's image folder: only the first of the pair gets OCR files.
        with_ocr = spec.with_ocr and kind != CONFLICT_PARTNER and _ocr_drawn(spec, index)
        ocr_count = _emit_ocr(result, built, code.raw) if with_ocr else 0
        for fact in built.facts:
            if fact.get("source") != "ocr" or ocr_count:
                result.stats[f"fact:{fact['type']}"] += 1
        if spec.with_truth:
            result.truth.append(_truth_line(code.raw, kind, conflict_with, built, bool(ocr_count)))
    return result.seal(spec.gzip_levels)


def _ocr_drawn(spec: SynthSpec, index: int) -> bool:
    """Whether product ``index`` gets its images OCR'd (always at the default rate of 1)."""
    return spec.ocr_rate >= 1.0 or random.Random(f"{spec.seed}:ocr:{index}").random() < spec.ocr_rate


def _emit_ocr(result: ChunkResult, built: Built, raw: str) -> int:
    """OCR archive lines of one product; none for a code without a valid image folder."""
    if not barcodes.is_valid_code(raw):
        return 0
    for image in built.ocr_images:
        source = barcodes.ocr_path(raw, image.image_id)
        result.ocr.append(orjson.dumps({"source": source, "content": build_response(image)}))
        result.stats["ocr_images"] += 1
    return len(built.ocr_images)


def _truth_line(raw: str, kind: str, conflict_with: str | None, built: Built, with_ocr: bool) -> bytes:
    facts = built.facts if with_ocr else [f for f in built.facts if f.get("source") != "ocr"]
    return orjson.dumps(
        {
            "code": raw,
            "normalized_code": barcodes.normalize_code(raw),
            "valid": barcodes.is_valid_code(raw),
            "barcode_kind": "conflict" if kind == CONFLICT_PARTNER else kind,
            "conflict_with": conflict_with,
            "facts": facts,
        }
    )


def _bad_line(kind: str, line: bytes, rng: random.Random) -> bytes:
    """A malformed line of ``kind`` made from a real-looking document line."""
    if kind == "truncated":
        return line[: rng.randint(1, max(1, len(line) - 2))]
    if kind == "array":
        return b"[" + line + b"]"
    if kind == "scalar":
        return rng.choice([b"42", b'"just a string"', b"null", b"true"])
    if kind == "invalid_utf8":
        # Between the opening brace and the first key, outside any string: no repair can make the line a JSON
        # object (the conversion repairs invalid bytes inside strings, pipelines/convert/repair.py), so it is
        # quarantined. The draw is kept so that the following lines are the same as before.
        rng.randint(1, max(1, len(line) - 1))
        return line[:1] + b"\xff\xfe" + line[1:]
    return b"{not json at all}"


# -- orchestration -------------------------------------------------------------------------------------------


def _tasks(spec: SynthSpec) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    """Chunks in order, each with the per-kind ranks reached before it."""
    offsets: Counter = Counter()
    chunks = (spec.products + CHUNK - 1) // CHUNK
    for chunk in range(chunks):
        kinds = chunk_kinds(spec, chunk)
        yield chunk, kinds, dict(offsets)
        offsets.update(k for k in kinds if k != CONFLICT_PARTNER)


def _results(spec: SynthSpec, workers: int) -> Iterator[ChunkResult]:
    if workers <= 1:
        _init_worker(spec)
        for task in _tasks(spec):
            yield _build_chunk(task)
        return
    window = workers * 3
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
        pending: list[Future[ChunkResult]] = []
        for task in _tasks(spec):
            pending.append(pool.submit(_build_chunk, task))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _open_tmp(stack: ExitStack, path: Path | None) -> IO[bytes] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(path.with_name(path.name + ".tmp").open("wb"))


def _level(path: Path | None, level: int) -> int | None:
    return level if path is not None and path.suffix == ".gz" else None


def generate(
    spec: SynthSpec,
    out: Path,
    *,
    ocr_out: Path | None = None,
    truth_out: Path | None = None,
    workers: int | None = None,
    compresslevel: int = 3,
    progress: Callable[[int], None] | None = None,
) -> SynthReport:
    """Generate ``spec.products`` products into ``out`` (and the OCR archive / truth file when asked)."""
    if spec.products < 0:
        raise ValueError("the number of products cannot be negative")
    levels = (_level(out, compresslevel), _level(ocr_out, compresslevel), _level(truth_out, compresslevel))
    spec = replace(spec, with_ocr=ocr_out is not None, with_truth=truth_out is not None, gzip_levels=levels)
    if workers is None:
        # Worker start-up loads the vocabulary again: worth it for big runs, or smaller ones with OCR.
        big = spec.products >= (2 if spec.with_ocr else 20) * CHUNK
        workers = min(2, os.cpu_count() or 1) if big else 1
    report = SynthReport()
    totals: Counter = Counter()
    outputs = [p for p in (out, ocr_out, truth_out) if p is not None]
    try:
        with ExitStack() as stack:
            files = [_open_tmp(stack, path) for path in (out, ocr_out, truth_out)]
            for result in _results(spec, workers):
                for handle, blob in zip(files, result.blobs, strict=True):
                    if handle is not None and blob:
                        handle.write(blob)
                totals.update(result.stats)
                report.lines += result.stats["lines"]
                if progress is not None:
                    progress(sum(v for k, v in result.stats.items() if k.startswith("kind:")))
            if spec.huge_line and files[0] is not None:
                huge = _huge_line(spec.seed) + b"\n"
                files[0].write(gzip.compress(huge, compresslevel=levels[0], mtime=0) if levels[0] else huge)
                totals["bad:huge"] += 1
                totals["bytes"] += len(huge)
                report.lines += 1
        for path in outputs:
            path.with_name(path.name + ".tmp").replace(path)
    except BaseException:
        for path in outputs:
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        raise
    report.products = spec.products
    report.bad_lines = {k[4:]: v for k, v in sorted(totals.items()) if k.startswith("bad:")}
    report.barcode_kinds = {k[5:]: v for k, v in sorted(totals.items()) if k.startswith("kind:")}
    report.conflict_pairs = totals["conflict_pairs"]
    report.ocr_images = totals["ocr_images"]
    report.facts = {k[5:]: v for k, v in sorted(totals.items()) if k.startswith("fact:")}
    report.bytes_uncompressed = totals["bytes"]
    report.vocabulary = vocabulary_source(spec.taxonomy_dir)
    logger.info("generated %d products (%d lines) into %s", report.products, report.lines, out)
    return report


def _huge_line(seed: int) -> bytes:
    """A syntactically valid object above DuckDB's 16 MB default maximum object size."""
    filler = random.Random(f"{seed}:huge").choice("abcdefgh") * HUGE_LINE_BYTES
    return orjson.dumps({"code": "huge-line", "product_name": "huge line", "ingredients_text_debug": filler})
