"""No import cycle between any two modules of ``pipelines`` and ``flows``.

``lint-imports`` checks the layers between stages (``pyproject.toml``, docs/architecture.md) but not the
modules inside one stage; this check covers every module. Function-level and ``TYPE_CHECKING`` imports count
(grimp sees them all): an import hidden in a function is still a dependency. ``make lint`` runs this file.
"""

from __future__ import annotations

import grimp

PACKAGES = ("pipelines", "flows")


def import_cycles() -> list[list[str]]:
    """One cycle (``a -> b -> … -> a``) per strongly connected group of modules that import each other."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    imports = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    return [_cycle(group, imports) for group in _groups(imports)]


def _groups(imports: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(imports[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(imports[child])))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def _cycle(group: set[str], imports: dict[str, list[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, through the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for child in imports[module]:
                if child == start:
                    return [*paths[module], start]
                if child in group and child not in paths:
                    paths[child] = [*paths[module], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def test_no_import_cycle() -> None:
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_a_cycle_is_found_and_shown() -> None:
    imports = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []}
    groups = _groups(imports)
    assert groups == [{"a", "b", "c"}]
    assert _cycle(groups[0], imports) == ["a", "b", "c", "a"]
