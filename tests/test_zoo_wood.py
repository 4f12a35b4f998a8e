"""The held-out zoo family "wood" (generation only): own grain per unit, truth, determinism, defects where the truth says."""

from __future__ import annotations

import dataclasses
import math

import colour
import numpy as np
import pytest

from goldenvision import demo
from goldenvision.demo import zoo
from goldenvision.spec import load_spec
from tests.test_zoo_ceramic import check_defect_box, check_lot_truth, texture_grid

FAM = zoo.FAMILIES["wood"]
SIZE = 0.4
D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]


def _texture(u):
    return texture_grid(FAM, u)


def _lab(rgba):
    """CIELAB of a premultiplied linear texture where it is opaque."""
    lin = rgba[..., :3] / np.maximum(rgba[..., 3:4], 1e-6)
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(np.clip(lin, 0, None), 1 / 2.4) - 0.055)
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(enc, illuminant=D65), illuminant=D65)


def test_lot_shapes_spec_and_truth(tmp_path):
    lot = demo.generate_lot(tmp_path, family="wood", mode="handheld", seed=2, n_golden=2, n_units=10, size=0.3)
    assert len(lot.golden_paths) == 2 and len(lot.unit_paths) == 10
    spec = load_spec(lot.spec_path)
    assert [(z.name, z.defect_type.value, z.min_area_mm2) for z in spec.anomaly_zones] == [
        ("surface", "finish", 1.0), ("engraving", "print", 0.5)]
    assert {d.name for d in spec.dimensions} == {"board_width", "board_height", "hole_diameter"}
    assert spec.scale_marker is not None and [c.name for c in spec.colors] == ["surface"]
    check_lot_truth(FAM, lot, min_area_mm2=None)


def test_every_unit_has_its_own_grain_and_the_golden_one_grain():
    """Two good boards photographed alike share no grain; two golden captures show one board."""
    g = FAM.golden_unit()
    a, b = zoo.zoo_golden_capture(FAM, 1, 3, "station"), zoo.zoo_golden_capture(FAM, 2, 3, "station")
    assert a.texture_seed == b.texture_seed == g.texture_seed
    assert np.array_equal(zoo.product_texture(FAM, a, SIZE)[0], zoo.product_texture(FAM, b, SIZE)[0])
    goods = [zoo.make_zoo_unit(FAM, i, "none", 5, "station") for i in range(3)]
    ls = []
    for u in goods:
        rgba, X, Y, _ = _texture(u)
        inner = (np.abs(X) < 30.0) & (np.abs(Y) < 20.0) & ~((X > -24) & (X < 9.5) & (Y > -8) & (Y < 5))
        ls.append(_lab(rgba)[..., 0][inner])
    for i in range(3):
        # rings with realistic contrast: early- and latewood several L* apart
        assert 4.0 < np.percentile(ls[i], 90) - np.percentile(ls[i], 10) < 20.0
        for j in range(i + 1, 3):
            assert abs(np.corrcoef(ls[i], ls[j])[0, 1]) < 0.5
    # the same unit renders the same, and its tone is its own (within the tolerance)
    u = zoo.make_zoo_unit(FAM, 3, "crack", 3, "station")
    assert np.array_equal(zoo.photograph_unit(FAM, u, SIZE), zoo.photograph_unit(FAM, u, SIZE))
    z = FAM.color_zones["surface"]
    des = [float(colour.difference.delta_E_CIE2000(np.array(v.lab("surface")), np.array(z["target"]))) for v in goods]
    assert len(set(des)) == 3 and max(des) <= 0.35 * z["tolerance"]


@pytest.mark.parametrize("kind", sorted(FAM.defect_zone))
def test_defect_changes_pixels_where_its_box_says(kind):
    check_defect_box(FAM, kind, (0, 1, 2), min_area_mm2=None)


def test_defects_are_at_or_above_the_spec_minimum():
    """Every defect the lot draws is at least its zone's ``min_area_mm2``, and not far above it
    for the small kinds (a crack, a faded line): the lot tests the spec's own limit."""
    areas: dict[str, list[float]] = {}
    for seed in range(12):
        for kind in FAM.defect_zone:
            u = zoo.make_zoo_unit(FAM, seed, kind, seed, "station")
            _, area = FAM.defect_footprint(u.defects[0], u)
            areas.setdefault(kind, []).append(area)
            assert area >= FAM.anomaly_zones[FAM.defect_zone[kind]]["min_area_mm2"], (kind, seed, area)
    assert min(areas["crack"]) < 3.0 and min(areas["faint_engraving"]) < 6.0


def test_stain_darkens_the_grain_by_its_truth():
    """A stain is ΔL* -8 to -12 at its centre, on the grain (the grain still shows through)."""
    for seed in range(4):
        u = zoo.make_zoo_unit(FAM, seed, "stain", seed, "station")
        d = u.defects[0]
        assert -12.0 <= d.strength <= -8.0 and 4.0 <= d.length_mm <= 6.0
        stained, X, Y, _ = _texture(u)
        clean, _, _, _ = _texture(dataclasses.replace(u, defects=()))
        near = np.hypot(X - d.center_mm[0], Y - d.center_mm[1]) < 0.5
        dl = (_lab(stained)[..., 0] - _lab(clean)[..., 0])[near]
        assert dl.mean() == pytest.approx(d.strength, abs=0.6), (seed, dl.mean())
        ring = (np.hypot(X - d.center_mm[0], Y - d.center_mm[1]) < 1.5)
        assert np.ptp(_lab(stained)[..., 0][ring]) > 1.0  # not a flat blot


def test_dimensions_and_hole_are_the_rendered_geometry():
    """The board's area (less its corners and the hole) gives its size; the hole's missing area
    gives its diameter, centred where the unit (or its hole_position defect) puts it."""
    for i, fault in enumerate(["none", "dimension", "dimension", "dimension", "hole_position"]):
        u = zoo.make_zoo_unit(FAM, i + 20, fault, 4, "station")
        rgba, X, Y, t = _texture(u)
        alpha = rgba[..., 3]
        w, h, dh = u.dim("board_width"), u.dim("board_height"), u.dim("hole_diameter")
        expect = w * h - (4 - math.pi) * 4.0**2 - math.pi * (dh / 2) ** 2
        assert alpha.sum() * t * t == pytest.approx(expect, abs=0.3), fault
        row = alpha[np.argmin(np.abs(Y[:, 0] - 10.0)), :]
        assert row.sum() * t == pytest.approx(w, abs=0.02)
        col = alpha[:, np.argmin(np.abs(X[0] - 10.0))]
        assert col.sum() * t == pytest.approx(h, abs=0.02)
        near = np.hypot(X - 32.0, Y) < 5.0
        hole = (1.0 - alpha) * near
        assert 2 * math.sqrt(hole.sum() * t * t / math.pi) == pytest.approx(dh, abs=0.02)
        cx, cy = (hole * X).sum() / hole.sum(), (hole * Y).sum() / hole.sum()
        dx, dy = u.defects[0].center_mm if u.defects else (0.0, 0.0)
        assert (cx, cy) == pytest.approx((32.0 + dx, dy), abs=0.02)
