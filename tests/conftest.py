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

The ``slow`` marker is registered here: ``pytest -m "not slow"`` skips the tests marked with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import goldenvision as gv
from goldenvision.demo import DemoLot, generate_lot

#: Camera resolution factor of the shared demo lot (1.0 = 1600 x 1200 px).
DEMO_SIZE = 0.4
DEMO_SEED = 3
DEMO_GOLDENS = 3
DEMO_UNITS = 12


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds (deselect with -m 'not slow')")


@pytest.fixture(scope="session")
def demo_lot(tmp_path_factory: pytest.TempPathFactory) -> DemoLot:
    out = tmp_path_factory.mktemp("demo-lot")
    return generate_lot(out, seed=DEMO_SEED, n_golden=DEMO_GOLDENS, n_units=DEMO_UNITS, size=DEMO_SIZE)


@pytest.fixture(scope="session")
def demo_golden_path(demo_lot: DemoLot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    golden = gv.seal([str(p) for p in demo_lot.golden_paths], demo_lot.spec_path)
    path = tmp_path_factory.mktemp("demo-golden") / "demo.golden"
    golden.save(path)
    return path


@pytest.fixture(scope="session")
def demo_golden(demo_golden_path: Path) -> gv.GoldenSample:
    return gv.load_golden(demo_golden_path)


@pytest.fixture(scope="session")
def demo_inspector(demo_golden: gv.GoldenSample) -> gv.Inspector:
    return gv.Inspector(demo_golden)


@pytest.fixture(scope="session")
def demo_results(demo_lot: DemoLot, demo_inspector: gv.Inspector) -> dict[str, gv.UnitResult]:
    return {p.stem: demo_inspector.inspect(str(p), unit_id=p.stem) for p in demo_lot.unit_paths}
