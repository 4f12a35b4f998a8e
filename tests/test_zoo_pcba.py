"""The held-out zoo family "pcba" (generation only): shapes, truth, determinism, defects where the truth says."""

from __future__ import annotations

import math

import numpy as np
import pytest

from goldenvision import demo
from goldenvision.demo import zoo
from goldenvision.spec import load_spec
from tests.test_zoo_ceramic import check_lot_truth, check_defect_box

FAM = zoo.FAMILIES["pcba"]
SIZE = 0.4


def test_lot_shapes_spec_and_truth(tmp_path):
    lot = demo.generate_lot(tmp_path, family="pcba", mode="handheld", seed=2, n_golden=2, n_units=10, size=0.3)
    assert len(lot.golden_paths) == 2 and len(lot.unit_paths) == 10
    spec = load_spec(lot.spec_path)
    assert [z.name for z in spec.anomaly_zones] == ["assembly", "board"]
    assert {d.name for d in spec.dimensions} == {"board_width", "board_height", "hole_diameter"}
    check_lot_truth(FAM, lot)


def test_generation_is_deterministic_and_units_differ():
    u = zoo.make_zoo_unit(FAM, 3, "solder_bridge", 3, "station")
    a, b = zoo.photograph_unit(FAM, u, SIZE), zoo.photograph_unit(FAM, u, SIZE)
    assert a.shape == (480, 640, 3) and np.array_equal(a, b)
    u0, u1 = zoo.make_zoo_unit(FAM, 0, "none", 5, "station"), zoo.make_zoo_unit(FAM, 1, "none", 5, "station")
    assert u0.texture_seed != u1.texture_seed and u0.lab("mask") != u1.lab("mask")
    # pick-and-place scatter: the chips sit a little differently on every unit, well inside a shift defect
    p0, p1 = FAM._placements(u0), FAM._placements(u1)
    moved = [math.hypot(a[0][0] - b[0][0], a[0][1] - b[0][1]) for a, b in zip(p0, p1)]
    assert max(moved) > 0.0 and max(moved) <= 0.15


@pytest.mark.parametrize("kind", sorted(FAM.defect_zone))
def test_defect_changes_pixels_where_its_box_says(kind):
    check_defect_box(FAM, kind, (0, 1, 2), min_area_mm2=0.5)


def test_dimensions_are_the_rendered_geometry():
    """The board's area (minus its corners and holes) and a hole's area give its true dimensions."""
    for i, fault in enumerate(["none", "dimension", "dimension", "dimension", "dimension"]):
        u = zoo.make_zoo_unit(FAM, i + 10, fault, 4, "station")
        rgba, a = zoo.product_texture(FAM, u, SIZE)
        t = float(a[0, 0])
        alpha = rgba[..., 3].astype(np.float64)
        w, h, d = u.dim("board_width"), u.dim("board_height"), u.dim("hole_diameter")
        expect = w * h - (4 - math.pi) * 1.5**2 - 4 * math.pi * (d / 2) ** 2
        assert alpha.sum() * t * t == pytest.approx(expect, abs=0.25)
        # the row through the board's middle spans its width; a hole's missing area its diameter
        row = alpha[np.argmin(np.abs(a[1, 2] + t * np.arange(alpha.shape[0]))), :]
        assert row.sum() * t == pytest.approx(w, abs=0.02)
        xs = a[0, 2] + t * np.arange(alpha.shape[1])
        ys = a[1, 2] + t * np.arange(alpha.shape[0])
        near = (np.hypot(xs[None, :] - 31.0, ys[:, None] - 18.5) < 2.0)
        gone = ((1.0 - alpha) * near).sum() * t * t
        assert 2 * math.sqrt(gone / math.pi) == pytest.approx(d, abs=0.02)
