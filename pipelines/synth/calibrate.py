"""Derive the generator's long-tail field model from a real dump's profile.

``python -m pipelines.synth.calibrate ../shared/data/products/off-real-sample.jsonl.gz`` rewrites
``pipelines/synth/field_model.json``: for each top-level key present in at least 2% of the real documents,
its presence rate, JSON-type mix, mean serialized size, mean list length and mean object key count. These are
statistics of the real file (key names and numbers), not its content; the generator fills the keys it does
not build by hand with synthetic values of those shapes. Re-run it when the dump's shape drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from pipelines.synth.profile import profile_file

MODEL_PATH = Path(__file__).with_name("field_model.json")
MIN_RATE = 0.02


def build_model(dump: Path) -> dict:
    profile = profile_file(dump).to_dict()
    fields = {k: v for k, v in profile["fields"].items() if v["rate"] >= MIN_RATE}
    return {
        "derived_from": dump.name,
        "documents": profile["documents"],
        "size": profile["size"],
        "fields": fields,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m pipelines.synth.calibrate REAL_DUMP.jsonl.gz\n")
        return 2
    model = build_model(Path(argv[0]))
    MODEL_PATH.write_bytes(orjson.dumps(model, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    sys.stderr.write(f"wrote {MODEL_PATH} ({len(model['fields'])} fields)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
