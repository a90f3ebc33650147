"""The package's imports follow the data flow (docs/architecture.md): the IR is a leaf, the engine sits
on the IR alone, no lower room imports a higher one, and no two packages import each other. Read from the
source with ``ast`` (function-level imports included), so a lazy import cannot hide an arrow."""

from __future__ import annotations

import ast
import os

import tna_deploy

PKG = os.path.dirname(tna_deploy.__file__)
LEAVES = {"errors", "checks", "atomic", "childproc", "lava_import", "memory", "__init__"}
# room -> rooms it may import (besides the leaves); a room is a subpackage or a top-level module
ALLOWED = {
    "ir": set(),
    "engine": {"ir"},
    "quant": {"ir"},
    "data": set(),
    "models": {"ir", "engine", "quant", "data", "train"},  # models/chip reads a trained run
    "train": {"ir", "engine", "quant", "data", "models"},
    "export": {"ir", "engine", "models", "train"},
    "hardware": {"ir", "engine"},
    "simulate": {"ir", "engine", "models", "train", "data", "export", "hardware"},
    "report": {"ir", "hardware", "simulate"},
    "cli": {
        "ir",
        "engine",
        "quant",
        "data",
        "models",
        "train",
        "export",
        "hardware",
        "simulate",
        "report",
        "cli_print",
        "cli_options",
    },
    "cli_print": set(),  # what the commands print
    "cli_options": {"train"},  # the commands' options, from the registries and TrainConfig
    "__main__": {"cli"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: str, module: str) -> set:
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tna_deploy")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("tna_deploy"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}  # `from . import x`
    return found


def _graph() -> dict:
    """module -> the tna_deploy modules it imports (names imported from a module count as that module)."""
    graph = {}
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
                module = rel[: -len(".__init__")] if rel.endswith(".__init__") else rel
                graph[module] = _imports(path, module)
    modules = set(graph)
    return {m: {t for t in ts if t in modules} for m, ts in graph.items()}


def test_every_import_runs_with_the_data_flow():
    wrong = []
    for module, targets in _graph().items():
        room = _room(module)
        for t in targets:
            other = _room(t)
            if other == room or other in LEAVES or t == "tna_deploy":
                continue
            if other not in ALLOWED.get(room, set()):
                wrong.append(f"{module} imports {t}")
    assert not sorted(set(wrong)), "\n".join(sorted(set(wrong)))


def test_the_ir_is_a_leaf_and_the_engine_sits_on_it_alone():
    for module, targets in _graph().items():
        room = _room(module)
        if room in ("ir", "engine"):
            others = {_room(t) for t in targets} - LEAVES - {room}
            assert others <= ({"ir"} if room == "engine" else set()), (module, others)


def test_no_two_rooms_import_each_other():
    edges = {(_room(m), _room(t)) for m, ts in _graph().items() for t in ts}
    edges = {(a, b) for a, b in edges if a != b and a not in LEAVES and b not in LEAVES}
    assert not {(a, b) for a, b in edges if (b, a) in edges}
