"""Shared fixtures: one small rendered demo lot and its sealed golden for the whole session.

Rendering and sealing a lot costs seconds; test modules that need a realistic end-to-end
lot use these fixtures instead of rendering their own:

- ``demo_lot``: :func:`goldenvision.demo.generate_lot` with seed 3, 3 golden captures,
  12 units, size 0.4 (640 x 480 px; 0.3125 mm per px). Read-only: do not write into it.
- ``demo_golden_path``: the golden sealed from those captures and saved (has an id and a
  manifest hash, as a loaded package does).
- ``demo_golden``: that package loaded back with :func:`goldenvision.load_golden`.
- ``demo_inspector``: one :class:`goldenvision.Inspector` over ``demo_golden``.
- ``demo_results``: every unit of the lot inspected once, by unit id (file stem).
- ``tiny_golden_pkg``: the golden of :mod:`synthetic`'s tiny part (``seal_tiny``), saved;
  read-only (the service, station and labelling tests upload or load it).

Under pytest-xdist the lot, the package and the results are made once per run, by whichever
worker asks first, and the others read them (a file lock in the run's shared temporary folder).

The ``slow`` marker is registered here: ``pytest -m "not slow"`` skips the tests marked with it.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

import goldenvision as gv
from goldenvision.demo import DemoLot, generate_lot

#: Camera resolution factor of the shared demo lot (1.0 = 1600 x 1200 px).
DEMO_SIZE = 0.4
DEMO_SEED = 3
DEMO_GOLDENS = 3
DEMO_UNITS = 12

T = TypeVar("T")


def _once_per_run(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)`` once per test run: alone, in a fresh temporary folder; under xdist,
    the first worker to ask builds it in the run's shared folder (the controller's basetemp)
    under a file lock and pickles the value, and the others wait for it and unpickle it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: each worker builds its own
        fcntl = None  # type: ignore[assignment]
    if os.environ.get("PYTEST_XDIST_WORKER") is None or fcntl is None:
        return build(factory.mktemp(name))
    shared = factory.getbasetemp().parent / "shared"
    shared.mkdir(exist_ok=True)
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{name}.pickle"
        if done.exists():
            return pickle.loads(done.read_bytes())
        folder = shared / name
        folder.mkdir(exist_ok=True)
        value = build(folder)
        part = shared / f"{name}.part"
        part.write_bytes(pickle.dumps(value))
        os.replace(part, done)
        return value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds (deselect with -m 'not slow')")
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        # `make test` runs one xdist worker per core: each takes one OpenCV and one BLAS thread,
        # as a service's workers do, so that their pools do not oversubscribe the cores (the
        # tests that size the pools themselves restore them)
        from goldenvision.pipeline import set_thread_pools

        set_thread_pools(opencv_threads=1, blas_threads=1)


@pytest.fixture(scope="session")
def demo_lot(tmp_path_factory: pytest.TempPathFactory) -> DemoLot:
    return _once_per_run(tmp_path_factory, "demo-lot", lambda out: generate_lot(
        out, seed=DEMO_SEED, n_golden=DEMO_GOLDENS, n_units=DEMO_UNITS, size=DEMO_SIZE))


@pytest.fixture(scope="session")
def demo_golden_path(demo_lot: DemoLot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(out: Path) -> Path:
        path = out / "demo.golden"
        gv.seal([str(p) for p in demo_lot.golden_paths], demo_lot.spec_path).save(path)
        return path

    return _once_per_run(tmp_path_factory, "demo-golden", build)


@pytest.fixture(scope="session")
def demo_golden(demo_golden_path: Path) -> gv.GoldenSample:
    return gv.load_golden(demo_golden_path)


@pytest.fixture(scope="session")
def demo_inspector(demo_golden: gv.GoldenSample) -> gv.Inspector:
    return gv.Inspector(demo_golden)


@pytest.fixture(scope="session")
def demo_results(demo_lot: DemoLot, demo_inspector: gv.Inspector,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, gv.UnitResult]:
    return _once_per_run(tmp_path_factory, "demo-results", lambda _: {
        p.stem: demo_inspector.inspect(str(p), unit_id=p.stem) for p in demo_lot.unit_paths})


@pytest.fixture(scope="session")
def tiny_golden_pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthetic import seal_tiny

    return _once_per_run(tmp_path_factory, "tiny-golden", lambda out: seal_tiny(out / "tiny.golden"))
