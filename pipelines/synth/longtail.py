"""Synthetic values for the long tail of top-level fields, shaped by ``field_model.json``.

The real dump has hundreds of top-level keys; the builder makes by hand the ones the pipeline reads and this
module fills the others so that presence rates, JSON types and sizes match a real profile (the model is
derived from one by ``calibrate.py``). Pools of candidate values are drawn once per seed; a document
then picks from them, which keeps the per-document cost low.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string
from pathlib import Path
from typing import Any

import orjson

MODEL_PATH = Path(__file__).with_name("field_model.json")


def load_field_model() -> dict[str, Any]:
    return orjson.loads(MODEL_PATH.read_bytes())


def rand_token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=max(1, length)))


class LongTail:
    """Synthetic values for the fields the builder does not make by hand, shaped by the field model.

    Pools of candidate values are drawn once per seed; a document then picks from them, which keeps the
    per-document cost low while matching each field's presence rate, type mix and typical size.
    """

    POOL = 12

    def __init__(self, model: dict[str, Any], handled: set[str], seed: int) -> None:
        rng = random.Random(f"long-tail:{seed}")
        # (key, presence rate, cumulative type weights, value pools per type, sorted by size)
        self.fields: list[tuple[str, float, list[float], list[list[Any]]]] = []
        for key, spec in sorted(model["fields"].items()):
            if key in handled or _is_lang_family(key, handled):
                continue
            kinds = list(spec["types"])
            cumulative = list(itertools.accumulate(spec["types"][k] for k in kinds))
            pools = [
                sorted((self._value(rng, key, kind, spec) for _ in range(self.POOL)), key=_size)
                for kind in kinds
            ]
            self.fields.append((key, spec["rate"], cumulative, pools))

    def fill(self, doc: dict[str, Any], rng: random.Random) -> None:
        """Add the long-tail fields; one "richness" draw per document correlates their sizes, which gives the
        wide spread of real document sizes (a richly documented product is rich in every field)."""
        rand = rng.random
        richness = rand() * self.POOL - 2
        last = self.POOL - 1
        for key, rate, cumulative, pools in self.fields:
            if rand() < rate:
                pool = (
                    pools[0] if len(pools) == 1 else pools[bisect.bisect(cumulative, rand() * cumulative[-1])]
                )
                index = int(richness + 4 * rand())
                doc[key] = pool[0 if index < 0 else last if index > last else index]

    def _value(self, rng: random.Random, key: str, kind: str, spec: dict[str, Any]) -> Any:
        # Sizes vary around the field's mean (log-normal, mean 1) so documents vary in size as real ones do.
        spread = rng.lognormvariate(0, 0.8) / 1.377
        budget = max(2, int((spec["mean_size"] - len(key) - 4) * spread))
        if kind == "string":
            return _words(rng, budget - 2)
        if kind == "numstr":
            return str(rng.randint(0, 10 ** min(9, max(1, budget - 3))))
        if kind == "int":
            return _int_for(rng, key)
        if kind == "float":
            return round(rng.uniform(0, 100), rng.choice([1, 2, 3]))
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "null":
            return None
        if key in KNOWN_OBJECTS:
            return KNOWN_OBJECTS[key](rng)
        if kind == "list":
            length = max(0, round(rng.gauss(spec.get("mean_len", 1), 1)))
            if spec.get("mean_len", 0) == 0:
                return []
            item_budget = max(3, (budget - 2) // max(1, length) - 3)
            tags = key.endswith(("_tags", "_hierarchy"))
            return [
                ("en:" if tags else "")
                + _words(rng, item_budget - (3 if tags else 0), sep="-" if tags else " ")
                for _ in range(length)
            ]
        return _object(rng, max(1, round(spec.get("mean_keys", 2))), budget)


def _categories_properties(rng: random.Random) -> dict[str, Any]:
    """Product Opener's real keys (CIQUAL / Agribalyse codes): exporters validate this object's keys."""
    keys = ("ciqual_food_code:en", "agribalyse_proxy_food_code:en", "agribalyse_food_code:en")
    chosen = [k for k in keys if rng.random() < 0.6] or [keys[0]]
    return {k: str(rng.randint(1000, 99999)) for k in chosen}


# Objects whose keys are a fixed vocabulary in real documents: random keys would be unrealistic.
KNOWN_OBJECTS = {"categories_properties": _categories_properties}


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _is_lang_family(key: str, handled: set[str]) -> bool:
    """``product_name_fr`` belongs to ``product_name`` when the builder makes that family by hand."""
    base, _, suffix = key.rpartition("_")
    return len(suffix) == 2 and suffix != "lc" and base in handled


def _words(rng: random.Random, budget: int, sep: str = " ") -> str:
    out: list[str] = []
    size = 0
    while size < budget:
        word = rand_token(rng, rng.randint(3, 9))
        out.append(word)
        size += len(word) + 1
    return sep.join(out)[: max(1, budget)]


def _int_for(rng: random.Random, key: str) -> int:
    if key.endswith("_t"):
        return rng.randint(1_400_000_000, 1_780_000_000)
    if key.endswith("_n"):
        return rng.randint(0, 20)
    return rng.randint(0, 100)


def _object(rng: random.Random, keys: int, budget: int) -> dict[str, Any]:
    per_key = max(8, budget // keys)
    out: dict[str, Any] = {}
    for _ in range(keys):
        name = rand_token(rng, rng.randint(3, 10))
        if per_key > 60:
            out[name] = _object(rng, rng.randint(2, 5), per_key - len(name) - 4)
        else:
            out[name] = rng.choice([rng.randint(0, 100), round(rng.uniform(0, 10), 2), rand_token(rng, 6)])
    return out
