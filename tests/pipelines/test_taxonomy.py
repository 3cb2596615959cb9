"""Taxonomies as DuckDB tables: equal to the SDK (what Robotoff uses) on the real label and category ones.

The references are the SDK's own functions, called as Robotoff's importer calls them: ``is_parent_of_any``,
``find_deepest_nodes`` via ``select_deepest_taxonomized_candidates``, ``create_taxonomy_mapping`` via
``match_taxonomized_value`` (re-stated below in a few lines, since Robotoff is not a dependency).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfoodfacts.taxonomy import Taxonomy, create_taxonomy_mapping

from pipelines import taxonomy as taxonomy_module
from pipelines.common.sql import connect
from pipelines.taxonomy import (
    TaxonomyFileNotFoundError,
    deepest_tags,
    ensure_taxonomies,
    load_taxonomy,
    taxonomy_path,
)

REAL = ("labels", "categories")


# --- references: Robotoff's use of the SDK ---------------------------------------------------------------


def robotoff_match(taxonomy: Taxonomy, mapping: dict[str, str], tag: str) -> str | None:
    """robotoff.taxonomy.match_taxonomized_value for a label/category taxonomy."""
    return tag if tag in taxonomy else mapping.get(tag)


def robotoff_deepest(taxonomy: Taxonomy, tags: list[str]) -> set[str]:
    """The tags robotoff.insights.importer.select_deepest_taxonomized_candidates keeps."""
    nodes = [taxonomy[tag] for tag in set(tags) if tag in taxonomy]
    return {node.id for node in taxonomy.find_deepest_nodes(nodes)}


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(taxonomy_dir: Path) -> dict[str, Taxonomy]:
    """The SDK's taxonomies, read the way Robotoff reads them (Taxonomy.from_path)."""
    return {name: Taxonomy.from_path(taxonomy_path(taxonomy_dir, name)) for name in REAL}


@pytest.fixture(scope="module")
def con(taxonomy_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory database holding both real taxonomies."""
    connection = connect()
    assert ensure_taxonomies(connection, REAL, taxonomy_dir) == list(REAL)
    yield connection
    connection.close()


def query(con: duckdb.DuckDBPyConnection, sql: str, rows: pa.Table, **params: object) -> list[tuple]:
    """Run ``sql`` over ``rows`` registered as ``input``."""
    con.register("input", rows)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.unregister("input")


def write_taxonomy(path: Path, data: dict) -> Path:
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    return path


def tiny(parents: dict[str, list[str]]) -> dict:
    """A hand-made taxonomy: node → parents, each node named after its id."""
    return {
        node: {"name": {"en": node.split(":", 1)[1]}, "parents": links} for node, links in parents.items()
    }


# --- structure -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_nodes_parents_and_names_are_the_sdks(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    nodes = con.execute("SELECT id FROM taxonomy_node WHERE taxonomy = ?", [name]).fetchall()
    assert sorted(n for (n,) in nodes) == sorted(taxonomy.keys())
    links = con.execute("SELECT id, parent FROM taxonomy_parent WHERE taxonomy = ?", [name]).fetchall()
    assert sorted(links) == sorted((n.id, p.id) for n in taxonomy.iter_nodes() for p in n.parents)
    keys = con.execute("SELECT key, id FROM taxonomy_name WHERE taxonomy = ?", [name]).fetchall()
    assert len(keys) == len({k for k, _ in keys})  # one row per key
    assert dict(keys) == create_taxonomy_mapping(taxonomy)


def test_node_columns(con, sdk) -> None:
    rows = con.execute(
        "SELECT name, names ->> '$.fr', properties ->> '$.agribalyse_food_code.en' FROM taxonomy_node "
        "WHERE taxonomy = 'categories' AND id = 'en:chocolate-chip-cookies'"
    ).fetchall()
    node = sdk["categories"]["en:chocolate-chip-cookies"]
    assert rows == [
        (node.names["en"], node.names["fr"], node.properties["agribalyse_food_code"]["en"]),
    ]


# --- closure -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_closure_equals_the_sdks_parent_hierarchy(con, sdk, name: str) -> None:
    rows = con.execute("SELECT id, ancestor FROM taxonomy_ancestor WHERE taxonomy = ?", [name]).fetchall()
    expected = {(n.id, p.id) for n in sdk[name].iter_nodes() for p in n.get_parents_hierarchy()}
    assert len(rows) == len(set(rows))
    assert set(rows) == expected


@pytest.mark.parametrize("name", REAL)
def test_depth_is_the_shortest_parent_chain(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    rng = random.Random(7)
    sample = rng.sample(sorted(taxonomy.keys()), 300)
    rows = con.execute(
        "SELECT id, ancestor, depth FROM taxonomy_ancestor WHERE taxonomy = ? AND list_contains(?, id)",
        [name, sample],
    ).fetchall()
    expected = set()
    for node_id in sample:
        depths: dict[str, int] = {}
        queue = deque([(taxonomy[node_id], 0)])
        while queue:
            node, depth = queue.popleft()
            for parent in node.parents:
                if parent.id not in depths:
                    depths[parent.id] = depth + 1
                    queue.append((parent, depth + 1))
        expected |= {(node_id, ancestor, depth) for ancestor, depth in depths.items()}
    assert set(rows) == expected


@pytest.mark.parametrize("name", REAL)
def test_is_ancestor_equals_is_parent_of_any(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    rng = random.Random(name)
    ids = sorted(taxonomy.keys())
    pairs = []
    for _ in range(3000):
        child = taxonomy[rng.choice(ids)]
        ancestors = [p.id for p in child.get_parents_hierarchy()]
        kind = rng.random()
        if kind < 0.35 and ancestors:
            pairs.append((rng.choice(ancestors), child.id))  # true
        elif kind < 0.55 and ancestors:
            pairs.append((child.id, rng.choice(ancestors)))  # reversed: false
        elif kind < 0.6:
            pairs.append((child.id, child.id))  # a node is not its own ancestor
        elif kind < 0.65:
            pairs.append(("en:not-a-node", child.id))
        else:
            pairs.append((rng.choice(ids), child.id))
    rows = pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    got = query(con, "SELECT a, b, is_ancestor($tx, a, b) FROM input", rows, tx=name)
    expected = [(a, b, taxonomy.is_parent_of_any(a, [b], raises=False)) for a, b in pairs]
    assert sorted(got) == sorted(expected)
    assert 0.2 < sum(flag for *_, flag in expected) / len(expected) < 0.6


@pytest.mark.parametrize("name", REAL)
def test_is_ancestor_of_any_equals_is_parent_of_any(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    rng = random.Random(f"any-{name}")
    ids = sorted(taxonomy.keys())
    cases = []
    for _ in range(1000):
        product = rng.sample(ids, rng.randint(0, 4))
        if product and rng.random() < 0.5:
            ancestors = [p.id for p in taxonomy[rng.choice(product)].get_parents_hierarchy()]
            candidate = rng.choice(ancestors) if ancestors else rng.choice(ids)
        else:
            candidate = rng.choice(ids)
        cases.append((candidate, [*product, "en:not-a-node"]))
    rows = pa.table({"a": [a for a, _ in cases], "tags": [tags for _, tags in cases]})
    got = query(con, "SELECT a, tags, is_ancestor_of_any($tx, a, tags) FROM input", rows, tx=name)
    expected = [(a, tags, taxonomy.is_parent_of_any(a, tags, raises=False)) for a, tags in cases]
    assert sorted(got) == sorted(expected)
    assert any(flag for *_, flag in expected)


# --- deepest only ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_deepest_equals_find_deepest_nodes(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    rng = random.Random(f"deepest-{name}")
    ids = sorted(taxonomy.keys())
    groups: dict[str, list[str]] = {}
    for group in range(500):
        node = taxonomy[rng.choice(ids)]
        chain = [p.id for p in node.get_parents_hierarchy()]
        tags = [node.id, *rng.sample(chain, min(len(chain), rng.randint(0, 3)))]
        tags += rng.sample(ids, rng.randint(0, 3))
        if rng.random() < 0.2:
            tags.append("xx:not-a-node")
        if rng.random() < 0.2:
            tags.append(rng.choice(tags))  # duplicated candidate
        rng.shuffle(tags)
        groups[f"g{group}"] = tags
    rows = [(grp, tag, i) for grp, tags in groups.items() for i, tag in enumerate(tags)]
    table = pa.table({"grp": [r[0] for r in rows], "tag": [r[1] for r in rows], "row": [r[2] for r in rows]})
    got = deepest_tags(con, name, table)
    assert got.column_names == ["grp", "tag", "row"]
    expected = [r for r in rows if r[1] in robotoff_deepest(taxonomy, groups[r[0]])]
    assert sorted(zip(*got.to_pydict().values(), strict=True)) == sorted(expected)
    assert len(expected) < len(rows) - 500  # the sample does exercise the rule


def test_deepest_null_group_and_empty_input(con) -> None:
    rows = pa.table(
        {"grp": pa.array([None, None, 1], pa.int64()), "tag": ["en:organic", "en:eu-organic", "en:organic"]}
    )
    assert sorted(deepest_tags(con, "labels", rows).to_pylist(), key=str) == [
        {"grp": 1, "tag": "en:organic"},
        {"grp": None, "tag": "en:eu-organic"},
    ]
    empty = pa.table({"grp": pa.array([], pa.string()), "tag": pa.array([], pa.string())})
    assert deepest_tags(con, "labels", empty).num_rows == 0


# --- canonicalization ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_canonical_tag_equals_robotoff_match(con, sdk, name: str) -> None:
    taxonomy = sdk[name]
    mapping = create_taxonomy_mapping(taxonomy)
    rng = random.Random(f"canonical-{name}")
    keys = sorted(mapping)
    tags = [*keys, *taxonomy.keys()]
    tags += [key.upper() for key in rng.sample(keys, 200)]  # not tagged: Robotoff looks tags up as given
    tags += [key.split(":", 1)[1] for key in rng.sample(keys, 200)]  # no language prefix
    tags += [f"xx:{key.split(':', 1)[1]}" for key in rng.sample(keys, 200)]
    tags += ["fr:pas-dans-la-taxonomie", "", "en:"]
    got = query(
        con, "SELECT tag, taxonomy_match($tx, tag), canonical_tag($tx, tag) FROM input",
        pa.table({"tag": tags}), tx=name,
    )  # fmt: skip
    expected = []
    for tag in tags:
        match = robotoff_match(taxonomy, mapping, tag)
        expected.append((tag, match, tag if match is None else match))
    assert sorted(got) == sorted(expected)
    assert sum(tag != canonical for tag, _, canonical in expected) > 1000


@pytest.mark.parametrize(
    ("name", "tag", "expected"),
    [
        # Robotoff's own cases (tests/unit/test_taxonomy.py), on the 2022 snapshots.
        ("labels", "fr:bio-europeen", "en:eu-organic"),
        ("labels", "fr:viande-bovine-francaise", "en:french-beef"),
        ("labels", "fr:agriculture-biologique", "en:organic"),
        ("labels", "fr:ab-agriculture-biologique", "fr:ab-agriculture-biologique"),
        ("labels", "ab-agriculture-biologique", None),
        ("labels", "unknown-label", None),
        ("categories", "en:shelled-almonds", "en:shelled-almonds"),
        # A key two nodes give: the SDK's dict keeps the node written last (docs/taxonomies.md).
        ("categories", "de:speck", "en:marshmallows"),
        ("labels", None, None),
    ],
)
def test_canonical_tag_cases(con, name: str, tag: str | None, expected: str | None) -> None:
    rows = con.execute("SELECT taxonomy_match(?, ?), canonical_tag(?, ?)", [name, tag, name, tag]).fetchall()
    assert rows == [(expected, expected if expected is not None else tag)]


def test_macros_do_not_mix_taxonomies(con) -> None:
    rows = con.execute(
        "SELECT taxonomy_match('categories', 'fr:agriculture-biologique'), "
        "is_ancestor('categories', 'en:organic', 'en:eu-organic'), taxonomy_match('brands', 'en:organic')"
    ).fetchall()
    assert rows == [(None, False, None)]


# --- reloading -------------------------------------------------------------------------------------------


def counts(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    out = {}
    for table in ("node", "parent", "ancestor", "name"):
        for taxonomy, n in con.execute(
            f"SELECT taxonomy, count(*) FROM taxonomy_{table} GROUP BY ALL"
        ).fetchall():
            out[(table, taxonomy)] = n
    return out


def test_reload_only_what_changed(tmp_path: Path, taxonomy_dir: Path) -> None:
    folder = tmp_path / "taxonomies"
    folder.mkdir()
    shutil.copy(taxonomy_dir / "labels.full.json.gz", folder)
    tiny_path = write_taxonomy(folder / "tiny.full.json.gz", tiny({"en:a": [], "en:b": ["en:a"]}))
    db = tmp_path / "store.duckdb"

    con = connect(db)
    assert ensure_taxonomies(con, ["labels", "tiny"], folder) == ["labels", "tiny"]
    before = counts(con)
    assert ensure_taxonomies(con, ["labels", "tiny", "labels"], folder) == []
    con.close()

    # A new connection to the file: the recorded source persists; the macros are installed again.
    con = connect(db)
    os.utime(tiny_path, (1_000_000, 1_000_000))  # touched, same bytes: not reloaded
    assert ensure_taxonomies(con, ["tiny", "labels"], folder) == []
    assert con.execute(
        "SELECT canonical_tag('tiny', 'en:b'), is_ancestor('tiny', 'en:a', 'en:b')"
    ).fetchall() == [("en:b", True)]

    write_taxonomy(tiny_path, tiny({"en:a": [], "en:c": ["en:a"], "en:d": ["en:c"]}))
    assert ensure_taxonomies(con, ["labels", "tiny"], folder) == ["tiny"]
    after = counts(con)
    assert {k: v for k, v in after.items() if k[1] == "labels"} == {
        k: v for k, v in before.items() if k[1] == "labels"
    }
    assert con.execute("SELECT id FROM taxonomy_node WHERE taxonomy = 'tiny' ORDER BY id").fetchall() == [
        ("en:a",),
        ("en:c",),
        ("en:d",),
    ]
    assert con.execute(
        "SELECT id, ancestor, depth FROM taxonomy_ancestor WHERE taxonomy = 'tiny' ORDER BY ALL"
    ).fetchall() == [("en:c", "en:a", 1), ("en:d", "en:a", 2), ("en:d", "en:c", 1)]
    source = con.execute(
        "SELECT path, nodes, parents, ancestors, names FROM taxonomy_source WHERE taxonomy = 'tiny'"
    ).fetchall()
    assert source == [(str(tiny_path), 3, 2, 3, 3)]
    con.close()


def test_new_loader_version_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_taxonomy(tmp_path / "tiny.full.json.gz", tiny({"en:a": []}))
    con = connect()
    assert ensure_taxonomies(con, ["tiny"], tmp_path) == ["tiny"]
    monkeypatch.setattr(taxonomy_module, "LOADER_VERSION", taxonomy_module.LOADER_VERSION + 1)
    assert ensure_taxonomies(con, ["tiny"], tmp_path) == ["tiny"]
    assert ensure_taxonomies(con, ["tiny"], tmp_path) == []


def test_a_file_is_parsed_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new database (a PostgreSQL session's working copy) loads the rows again, without parsing again
    unless the content changed (contents no other test uses: the cache is the process's)."""
    parents = {"en:a": [], "en:parsed-once": ["en:a"], "en:c": ["en:parsed-once"], "en:d": ["en:c", "en:a"]}
    path = write_taxonomy(tmp_path / "tiny.full.json.gz", tiny(parents))
    parsed: list[bytes] = []
    real_parse = taxonomy_module.parse_taxonomy
    monkeypatch.setattr(
        taxonomy_module, "parse_taxonomy", lambda content: parsed.append(content) or real_parse(content)
    )
    closures = []
    for _ in range(2):  # the second database gets the closure the first computed
        con = connect()
        assert ensure_taxonomies(con, ["tiny"], tmp_path) == ["tiny"]
        assert con.execute("SELECT is_ancestor('tiny', 'en:a', 'en:parsed-once')").fetchall() == [(True,)]
        closures.append(
            con.execute("SELECT id, ancestor, depth FROM taxonomy_ancestor ORDER BY ALL").fetchall()
        )
        con.close()
    assert len(parsed) == 1
    assert closures[0] == closures[1]
    assert ("en:d", "en:a", 1) in closures[1] and ("en:d", "en:parsed-once", 2) in closures[1]
    write_taxonomy(path, tiny({"en:a": [], "en:parsed-twice": ["en:a"]}))
    con = connect()
    assert ensure_taxonomies(con, ["tiny"], tmp_path) == ["tiny"]
    assert con.execute("SELECT is_ancestor('tiny', 'en:a', 'en:parsed-twice')").fetchall() == [(True,)]
    assert len(parsed) == 2


def test_failed_load_keeps_the_previous_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_taxonomy(tmp_path / "tiny.full.json", tiny({"en:a": [], "en:b": ["en:a"]}))
    con = connect()
    load_taxonomy(con, "tiny", path)
    before = counts(con)
    write_taxonomy(path, tiny({"en:x": []}))
    real_load_sql = taxonomy_module.load_sql

    def failing(name: str) -> str:
        if name == "taxonomy/insert_ancestor":
            raise RuntimeError("boom")
        return real_load_sql(name)

    monkeypatch.setattr(taxonomy_module, "load_sql", failing)
    with pytest.raises(RuntimeError, match="boom"):
        load_taxonomy(con, "tiny", path)
    monkeypatch.undo()
    assert counts(con) == before
    assert ensure_taxonomies(con, ["tiny"], tmp_path) == ["tiny"]  # the recorded hash is still the old one


def test_plain_json_file_and_names(tmp_path: Path) -> None:
    (tmp_path / "tiny.full.json").write_text(json.dumps(tiny({"en:a": []})))
    assert taxonomy_path(tmp_path, "tiny") == tmp_path / "tiny.full.json"
    with pytest.raises(TaxonomyFileNotFoundError):
        taxonomy_path(tmp_path, "labels")
    for bad in ("../labels", "Labels", "a/b", ""):
        with pytest.raises(ValueError, match="invalid taxonomy name"):
            taxonomy_path(tmp_path, bad)


def test_non_text_names_are_dropped(tmp_path: Path) -> None:
    """The ingredients taxonomy has null names, on which the SDK's mapping raises."""
    data = {
        "en:a": {"name": {"en": "Apple", "fr": None}, "synonyms": {"en": ["apple", None, "pomme"]}},
        "en:b": {"name": {"en": "Banana"}, "parents": ["en:a"]},
    }
    con = connect()
    stats = load_taxonomy(con, "tiny", write_taxonomy(tmp_path / "tiny.full.json.gz", data))
    assert (stats.nodes, stats.parents, stats.ancestors) == (2, 1, 1)
    assert sorted(con.execute("SELECT key, id FROM taxonomy_name").fetchall()) == [
        ("en:apple", "en:a"),
        ("en:banana", "en:b"),
        ("en:pomme", "en:a"),
    ]


# --- cycles ----------------------------------------------------------------------------------------------


def test_cycle_does_not_hang(tmp_path: Path) -> None:
    path = write_taxonomy(
        tmp_path / "cyclic.full.json.gz",
        tiny({"en:a": ["en:c"], "en:b": ["en:a"], "en:c": ["en:b"], "en:d": ["en:d"], "en:e": ["en:a"]}),
    )
    con = connect()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            load_taxonomy(con, "cyclic", path)
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        con.interrupt()
        pytest.fail("loading a cyclic taxonomy did not finish")
    assert not errors
    rows = con.execute("SELECT id, ancestor, depth FROM taxonomy_ancestor ORDER BY ALL").fetchall()
    assert rows == [
        ("en:a", "en:b", 2),
        ("en:a", "en:c", 1),
        ("en:b", "en:a", 1),
        ("en:b", "en:c", 2),
        ("en:c", "en:a", 2),
        ("en:c", "en:b", 1),
        ("en:e", "en:a", 1),
        ("en:e", "en:b", 3),
        ("en:e", "en:c", 2),
    ]
    # Both members of a cycle are ancestors of each other: neither is "deepest" (as find_deepest_nodes).
    got = deepest_tags(con, "cyclic", pa.table({"grp": [1, 1, 1], "tag": ["en:a", "en:b", "en:d"]}))
    assert got.to_pylist() == [{"grp": 1, "tag": "en:d"}]


def reachable(parents: dict[str, list[str]]) -> set[tuple[str, str, int]]:
    """Breadth-first shortest chains, self pairs left out."""
    out = set()
    for start in parents:
        depths: dict[str, int] = {}
        queue = deque([(start, 0)])
        while queue:
            node, depth = queue.popleft()
            for parent in parents[node]:
                if parent not in depths:
                    depths[parent] = depth + 1
                    queue.append((parent, depth + 1))
        out |= {(start, ancestor, depth) for ancestor, depth in depths.items() if ancestor != start}
    return out


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """Small parent graphs, cycles and self-loops included."""
    ids = [f"en:n{i}" for i in range(draw(st.integers(1, 12)))]
    return {node: draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)) for node in ids}


@pytest.fixture(scope="module")
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """A database each example loads its graph into, replacing the previous example's."""
    connection = connect()
    yield connection
    connection.close()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parents=graphs())
def test_closure_of_random_graphs(scratch: duckdb.DuckDBPyConnection, parents: dict[str, list[str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        load_taxonomy(scratch, "random", write_taxonomy(Path(folder) / "random.full.json.gz", tiny(parents)))
    rows = scratch.execute("SELECT id, ancestor, depth FROM taxonomy_ancestor").fetchall()
    assert len(rows) == len(set(rows))
    assert set(rows) == reachable(parents)
