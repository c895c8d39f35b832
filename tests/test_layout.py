"""The package layout shows the flow: imports run one way, data → models → activations → lenses →
claims → report, over a bottom layer (schema, linalg, store, runtime); the config module, which reads the
registry of architectures for the workflow, sits on top; the lenses do not import each other."""

import ast
from pathlib import Path

import pytest

import bowsflow

SRC = Path(bowsflow.__file__).parent

# the layer of each first-level name under bowsflow; a module may import its own layer or lower ones
LAYERS = {
    "schema": 0,
    "linalg": 0,
    "store": 0,
    "runtime": 0,
    "data": 1,
    "models": 2,
    "activations": 3,
    "lenses": 4,
    "claims": 5,
    "report": 6,
    "config": 7,
}


def imported_modules(path: Path) -> list[str]:
    """Every bowsflow module ``path`` imports, at module level or inside a function, as a dotted name."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("bowsflow"):
            out += [node.module] if node.module != "bowsflow" else [f"bowsflow.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("bowsflow")]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import (use absolute bowsflow.… imports)")
    return out


def modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package's facade (open_bows, open_activations) may reach any layer
        yield path, parts


def test_every_module_belongs_to_a_layer():
    for path, parts in modules():
        assert parts[0] in LAYERS, f"{path}: {parts[0]!r} is in no layer of tests/test_layout.py"


@pytest.mark.parametrize("path, parts", list(modules()), ids=lambda x: "/".join(x) if isinstance(x, tuple) else "")
def test_imports_run_one_way(path, parts):
    own = LAYERS[parts[0]]
    for name in imported_modules(path):
        target = name.split(".")[1:]
        if not target or target[0] == "__version__":
            continue
        assert LAYERS[target[0]] <= own, f"{'/'.join(parts)} (layer {own}) imports {name} (layer {LAYERS[target[0]]})"
        if parts[0] == "lenses" and target[0] == "lenses" and len(parts) > 1 and len(target) > 1:
            assert target[1] == parts[1], f"the {parts[1]} lens imports the {target[1]} lens ({name})"


def test_the_checker_sees_a_backward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bowsflow.report.plots import loss_curves\n")
    assert imported_modules(bad) == ["bowsflow.report.plots"]


def import_graph() -> dict[str, set[str]]:
    """bowsflow module → the bowsflow modules it imports (anywhere in it, at module level or inside a
    function: a cycle through a deferred import is still a cycle), packages by their ``__init__``."""
    graph = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(("bowsflow", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("bowsflow", *parts))
        graph[name] = {m for m in imported_modules(path) if m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a list of modules."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_anywhere_not_even_inside_a_package():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
