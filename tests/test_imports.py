"""Imports point down the stack: every module imports on its own, no module-level cycle,
one version string."""

from __future__ import annotations

import ast
import json
import importlib.util
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import goldenvision

PACKAGE_DIR = Path(goldenvision.__file__).parent
ROOT = PACKAGE_DIR.parent


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name -> its file (packages -> __init__.py)."""
    out = {"goldenvision": PACKAGE_DIR / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="goldenvision."):
        if info.name.startswith("goldenvision.store.migrations."):
            continue  # Alembic's scripts: run by Alembic with its context, never imported
        rel = Path(*info.name.split(".")[1:])
        path = PACKAGE_DIR / rel / "__init__.py" if info.ispkg else PACKAGE_DIR / rel.with_suffix(".py")
        out[info.name] = path
    return out


MODULES = _modules()


def _module_level(body: list[ast.stmt]):
    """Statements run at import time: the top level and inside top-level if/try (not TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                yield from _module_level(node.orelse)
                continue
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _module_level(block)
        else:
            yield node


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _everywhere(body: list[ast.stmt]):
    """Every import statement that can run, also inside functions and classes (imports made
    lazily); ``if TYPE_CHECKING:`` blocks never run."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt
        elif _is_type_checking(stmt):
            yield from _everywhere(stmt.orelse)
        else:
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    yield from _everywhere([child])


def _imports_of(name: str, path: Path, *, lazy: bool = False) -> set[str]:
    """goldenvision modules that ``name`` imports at module level (explicit imports only);
    with ``lazy``, also those imported inside functions."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in (_everywhere if lazy else _module_level)(tree.body):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "goldenvision"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "goldenvision":
                continue
            # ``from . import features`` needs the submodule only: the parent package is being
            # imported already. A name that is not a submodule (``from .. import __version__``)
            # is read from the package, so the package's own imports must have run: an edge.
            ancestor = name == base or name.startswith(base + ".")
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
                    if not ancestor:
                        found.add(base)
                else:
                    found.add(base)
    return {m for m in found if m in MODULES and m != name}


def _import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    return {name: _imports_of(name, path, lazy=lazy) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


#: golden.py imports load_golden from package.py at module level; package.py imports
#: GoldenSample (and the package's __version__) inside functions: a cycle made lazily, in
#: files the package change of issue 12 owns (it makes GoldenSample frozen and splits package.py).
GOLDEN_PACKAGE = {"goldenvision.golden", "goldenvision.package"}


def _known(cycle: frozenset[str]) -> bool:
    return GOLDEN_PACKAGE <= cycle


def test_the_graph_sees_the_imports_it_should():
    graph = _import_graph()
    assert "goldenvision.enums" in graph["goldenvision.results"]
    assert "goldenvision.enums" in graph["goldenvision.spec"]
    assert "goldenvision._version" in graph["goldenvision.pipeline"]
    assert {"goldenvision.aql", "goldenvision.lots", "goldenvision.pipeline"} <= graph["goldenvision"]
    assert "goldenvision.anomaly.registry" in graph["goldenvision.anomaly.model"]
    assert "goldenvision.anomaly" not in graph["goldenvision.anomaly.model"]  # its own parent: no edge
    # a planted cycle is found
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(planted) == [frozenset({"a", "b", "c"})]


def test_no_module_level_import_cycle():
    cycles = _cycles(_import_graph())
    assert not cycles, [sorted(c) for c in cycles]


def _within_one_subpackage(cycle: frozenset[str]) -> bool:
    """A lazy cycle among the modules of one subpackage (a registry and the methods it names,
    a lot builder and its product families) keeps the layers intact; one across subpackages
    does not."""
    return len({".".join(m.split(".")[:2]) for m in cycle}) == 1 and all(m.count(".") >= 2 for m in cycle)


def test_no_other_cycle_counting_imports_inside_functions():
    cycles = [c for c in _cycles(_import_graph(lazy=True)) if not _known(c) and not _within_one_subpackage(c)]
    assert not cycles, [sorted(c) for c in cycles]


@pytest.mark.xfail(reason="GoldenSample.provenance/save import the package lazily and package imports golden "
                          "inside functions: no module-level cycle, a lazy one left", strict=False)
def test_golden_package_cycle_is_gone():
    cycles = [sorted(c) for c in _cycles(_import_graph(lazy=True)) if _known(c)]
    assert not cycles, cycles


def test_results_spec_and_pipeline_do_not_import_each_other_or_the_package():
    graph = _import_graph()
    assert "goldenvision.spec" not in graph["goldenvision.results"]
    assert "goldenvision.results" not in graph["goldenvision.spec"]
    for name in ("goldenvision.pipeline", "goldenvision.results", "goldenvision.spec", "goldenvision.enums",
                 "goldenvision.imageio", "goldenvision.errors", "goldenvision.decision"):
        assert "goldenvision" not in graph[name], name


_IMPORT_EACH = r"""
import importlib, json, os, sys, traceback
def forget():
    for loaded in [m for m in sys.modules if m == "goldenvision" or m.startswith("goldenvision.")]:
        del sys.modules[loaded]
failures = {}
# Third-party packages the package's modules import (SQLAlchemy, FastAPI, ...) are loaded once,
# before the package: every forked child below then imports only goldenvision's own modules, fresh
# (what this test is about: a child re-importing SQLAlchemy and FastAPI took 0.5-0.7 s of the
# test's 19 s). A dependency that is not installed is left to the module that imports it.
for heavy in ("sqlalchemy", "sqlalchemy.orm", "alembic", "fastapi", "fastapi.responses", "starlette", "httpx",
              "uvicorn", "multipart", "jinja2", "dask", "distributed", "matplotlib", "matplotlib.pyplot",
              "watchdog", "cryptography", "typer", "rich"):
    try:
        importlib.import_module(heavy)
    except Exception:
        pass
# Importing any module runs the package's __init__ first; a module that __init__ itself imports
# is then already loaded, so importing it alone is exactly this one import of the package (done
# once here, not once per such module).
forget()
try:
    importlib.import_module("goldenvision")
    with_package = {m for m in sys.modules if m == "goldenvision" or m.startswith("goldenvision.")}
except BaseException:
    failures["goldenvision"] = traceback.format_exc(limit=3)
    with_package = set()
def alone(name):
    try:
        importlib.import_module(name)
    except BaseException:
        return traceback.format_exc(limit=3)
    return ""
for name in json.loads(sys.argv[1]):
    if name in with_package:
        continue
    if with_package and hasattr(os, "fork"):
        # a forked child starts from the package just imported, untouched: the same state as
        # forgetting everything and importing the package again, without paying for it
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, alone(name).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            why = f.read().decode()
        _, status = os.waitpid(pid, 0)
        if status != 0 and not why:
            why = f"the child importing {name} ended with status {status}"
    else:
        forget()
        why = alone(name)
    if why:
        failures[name] = why
print(json.dumps({"failures": failures, "with_package": len(with_package)}))
"""


@pytest.mark.slow
def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    """One fresh interpreter; before each module, every goldenvision module is forgotten (the
    modules the package's own import loads are covered by that one import)."""
    names = sorted(MODULES)
    assert len(names) > 20
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, json.dumps(names)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = out["failures"]
    # goldenvision.training needs the `train` extra (torch, torchvision, onnx); without it, only
    # the import of that missing package may fail there, nothing else and nowhere else
    missing = {m for m in ("torch", "torchvision", "onnx") if importlib.util.find_spec(m) is None}
    failures = {name: tb for name, tb in failures.items()
                if not (name.startswith("goldenvision.training.")
                        and any(tb.rstrip().endswith(f"No module named '{m}'") for m in missing))}
    assert not failures, failures


def test_one_version_string():
    from goldenvision import _version

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert goldenvision.__version__ is _version.__version__
    assert pyproject["project"]["version"] == _version.__version__
    parts = _version.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


#: Heavy dependencies that only some functions need: importing the package or its CLI (so
#: ``goldenvision --help``) must not load them (colour-science imports matplotlib.pyplot, ~1 s;
#: scipy.stats ~0.8 s; scipy.optimize ~0.2 s). They are imported inside the functions that use them.
LAZY_DEPENDENCIES = ("colour", "colour_checker_detection", "matplotlib", "scipy.stats", "scipy.signal", "scipy.optimize")


def test_package_and_cli_import_leave_heavy_dependencies_unloaded():
    code = ("import json, sys; import goldenvision, goldenvision.cli; "
            f"print(json.dumps(sorted(m for m in {list(LAZY_DEPENDENCIES)!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
