"""The import contract of ``src/spanrun`` (design.md section 6): dependencies point down only.

Layers, bottom up::

    1  core, errors, entities           what everything shares
    2  instrumentation                  OTel API + wrapt only
    3  store, artifacts
    4  tracking, exporters
    5  cli, server, ui, testing, evaluation
    6  the facade (spanrun/__init__, _autolog, _evaluate, llm, openai, langchain, pyfunc, metrics):
       what users import; it may use every package below it, evaluation included

A module may import its own package, and the public names of packages in lower layers: never a
package of its own layer (but in layer 1) or above, never another package's private (``_``)
module. Imports made only for type checking (``if TYPE_CHECKING:``) count too: they are read by
type checkers and by people, and an upward one says the layering is wrong.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "spanrun"

LAYERS: dict[str, int] = {
    "core": 1,
    "errors": 1,
    "entities": 1,
    "instrumentation": 2,
    "store": 3,
    "artifacts": 3,
    "tracking": 4,
    "exporters": 4,
    "": 6,  # the top-level modules: the facade
    "cli": 5,
    "server": 5,
    "ui": 5,
    "testing": 5,
    "evaluation": 5,
    "metrics": 6,  # spanrun.metrics: MLflow's mlflow.metrics, a facade over evaluation
}
# Top-level modules of the facade: one package ("") for the rule.
FACADE = {
    "__init__",
    "__main__",
    "_autolog",
    "_evaluate",
    "_mlflow_names",
    "_tracing",
    "llm",
    "openai",
    "langchain",
    "pyfunc",
}


def package_of(module: str) -> str:
    """``spanrun.store._export_batch`` -> ``store``; ``spanrun._autolog`` -> ``""`` (the facade)."""
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    name = parts[1]
    return "" if name in FACADE else name


def violations(module: str, source: str) -> list[str]:
    """What ``module`` (a dotted name under spanrun) imports against the contract."""
    own = package_of(module)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            targets = targets[:1] if any(a.name == "*" for a in node.names) else targets
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if not target.startswith("spanrun.") or target == "spanrun":
                continue
            theirs = package_of(target)
            if theirs == own:
                continue
            if theirs not in LAYERS:
                continue  # a name imported from a module (`from spanrun.x import name`)
            # Layer 1 is one layer in three modules; above it, packages of one layer are
            # independent (exporters get the active run as callables, not from tracking).
            if LAYERS[theirs] > LAYERS[own] or (LAYERS[theirs] == LAYERS[own] > 1):
                found.append(
                    f"{module}: imports {target} (layer {LAYERS[theirs]}, from layer {LAYERS[own]})"
                )
            private = [p for p in target.split(".")[2:-1] if p.startswith("_")]
            last = target.split(".")[-1]
            if private or (
                last.startswith("_") and not last.startswith("__") and _is_module(target)
            ):
                found.append(f"{module}: imports private module {target}")
    return found


def _is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split(".")[1:])
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if "migrations" in parts:
            continue  # Alembic's revision scripts: loaded by Alembic, not imported
        out.append((".".join(parts), path))
    return out


def test_every_package_has_a_layer():
    packages = {package_of(m) for m, _ in _modules()}
    assert packages <= set(LAYERS), packages - set(LAYERS)


def test_imports_point_down_and_at_public_modules_only():
    problems = [v for module, path in _modules() for v in violations(module, path.read_text())]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("spanrun.store.base", "from spanrun.tracking.client import SpanrunClient"),
        ("spanrun.store.base", "from spanrun.tracking import fluent"),
        ("spanrun.exporters._run_exporter", "from spanrun.tracking import set_tracking_uri"),
        ("spanrun.instrumentation.openai", "import spanrun.store"),
        ("spanrun.core.text", "from spanrun.store import Store"),
        (
            "spanrun.exporters._llm_call_reader",
            "from spanrun.store._llm_calls import checked_calls",
        ),
        ("spanrun.exporters._llm_call_reader", "from spanrun.store import _llm_calls"),
        ("spanrun.cli._runs", "from spanrun.exporters._batch import BoundedBatchSpanProcessor"),
    ],
)
def test_the_contract_catches_a_wrong_import(module, source):
    """A deliberately wrong import of each kind is reported."""
    assert violations(module, source)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("spanrun.tracking.client", "from spanrun.store import Store"),
        ("spanrun.exporters._run_exporter", "from spanrun.core.vocabulary import RUN_NAME_TAG"),
        ("spanrun.store._export_batch", "from spanrun.store._llm_calls import checked_calls"),
        ("spanrun.cli._runs", "from spanrun.tracking import SpanrunClient"),
        ("spanrun.openai", "from spanrun._autolog import autolog"),
    ],
)
def test_the_contract_allows_a_right_import(module, source):
    assert violations(module, source) == []
