"""The held-out zoo family "ceramic" (generation only): shapes, truth, determinism, defects where the truth says."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from goldenvision import demo
from goldenvision.demo import zoo
from goldenvision.demo.scene import lab_to_linear_srgb
from goldenvision.spec import load_spec

FAM = zoo.FAMILIES["ceramic"]
SIZE = 0.4


def _apply(h, pts):
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    xyw = pts @ np.asarray(h)[:, :2].T + np.asarray(h)[:, 2]
    return xyw[:, :2] / xyw[:, 2:3]


def _clean(u, **kw):
    return dataclasses.replace(u, noise_sigma=0.0, jpeg_quality=0, gains=(1.0, 1.0, 1.0), light=(0.0, 0.0, 0.0), **kw)


def _unit(kind: str, seed: int) -> zoo.ZooUnit:
    return zoo.make_zoo_unit(FAM, seed, kind, seed, "station")


def test_lot_shapes_spec_and_truth(tmp_path):
    lot = demo.generate_lot(tmp_path, family="ceramic", mode="handheld", seed=2, n_golden=2, n_units=10, size=0.3)
    assert len(lot.golden_paths) == 2 and len(lot.unit_paths) == 10
    spec = load_spec(lot.spec_path)
    assert [z.name for z in spec.anomaly_zones] == ["decal", "glaze", "rim"]
    assert {d.name for d in spec.dimensions} == {"diameter", "band_width"} and spec.scale_marker is not None
    check_lot_truth(FAM, lot)


def test_generation_is_deterministic_and_units_differ():
    a = zoo.photograph_unit(FAM, _unit("pinholes", 3), SIZE)
    b = zoo.photograph_unit(FAM, _unit("pinholes", 3), SIZE)
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    u0, u1 = zoo.make_zoo_unit(FAM, 0, "none", 5, "station"), zoo.make_zoo_unit(FAM, 1, "none", 5, "station")
    assert u0.texture_seed != u1.texture_seed and u0.lab("glaze") != u1.lab("glaze")


def check_lot_truth(fam, lot, min_area_mm2: float | None = 0.5) -> None:
    """A 10-unit zoo lot at size 0.3: 6 good units, every other unit fails, and each injected
    defect is recorded once, in its zone, with a box inside the 480 x 360 photo and at least
    ``min_area_mm2`` (None: not checked here). Shared by the zoo families' tests."""
    faults = [u["fault"] for u in lot.truth["units"]]
    assert faults.count("none") == 6
    for u in lot.truth["units"]:
        assert (u["expected_verdict"] == "fail") == (u["fault"] != "none")
        if u["fault"] in fam.defect_zone:
            (d,) = u["defects"]
            assert d["type"] == u["fault"] and d["zone"] == fam.defect_zone[u["fault"]]
            x1, y1, x2, y2 = d["bbox"]
            assert 0 <= x1 < x2 <= 480 and 0 <= y1 < y2 <= 360
            assert min_area_mm2 is None or d["area_mm2"] >= min_area_mm2
        else:
            assert u["defects"] == []


def check_defect_box(fam, kind: str, seeds, min_area_mm2: float | None = 0.5) -> None:
    """A zoo defect changes the (clean) photo by at least 12 grey levels, only inside the camera
    image of its footprint box (1.5 px of slack), and its footprint area is at least
    ``min_area_mm2`` (None: not checked here). Shared by the zoo families' tests."""
    for seed in seeds:
        u = _clean(zoo.make_zoo_unit(fam, seed, kind, seed, "station"))
        bad = zoo.photograph_unit(fam, u, SIZE).astype(int)
        good = zoo.photograph_unit(fam, dataclasses.replace(u, defects=()), SIZE).astype(int)
        diff = np.abs(bad - good).max(axis=2)
        box, area = fam.defect_footprint(u.defects[0], u)
        cam = _apply(zoo.camera_of(u, SIZE) @ zoo.pose_of(u), [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]),
                                                              (box[0], box[3])])
        ys, xs = np.nonzero(diff > 2)
        assert xs.size > 0 and diff.max() >= 12, (kind, seed, diff.max())
        inside = ((xs >= cam[:, 0].min() - 1.5) & (xs <= cam[:, 0].max() + 1.5) & (ys >= cam[:, 1].min() - 1.5)
                  & (ys <= cam[:, 1].max() + 1.5))
        assert inside.all(), (kind, seed)
        if min_area_mm2 is not None:
            assert area >= min_area_mm2, (kind, seed, area)


@pytest.mark.parametrize("kind", sorted(FAM.defect_zone))
def test_defect_changes_pixels_where_its_box_says(kind):
    check_defect_box(FAM, kind, (0, 1))


def texture_grid(fam, u):
    """A unit's product texture (float RGBA) and its pixels' product mm (x row, y column) and mm per px."""
    rgba, a = zoo.product_texture(fam, u, SIZE)
    t = float(a[0, 0])
    ys = a[1, 2] + t * np.arange(rgba.shape[0])
    xs = a[0, 2] + t * np.arange(rgba.shape[1])
    return rgba.astype(np.float64), xs[None, :], ys[:, None], t


def _texture(u):
    return texture_grid(FAM, u)


def test_decal_shift_moves_the_ink_by_its_truth():
    """The cobalt ink's centroid (texture, product mm) moves by the defect's shift."""
    for seed in range(6):
        u = _unit("decal_shift", seed)
        d = u.defects[0]
        cents = []
        for v in (dataclasses.replace(u, defects=()), u):
            rgba, X, Y, _ = _texture(v)
            blue = np.clip(rgba[..., 2] - rgba[..., 0], 0, None) * (np.hypot(X, Y) < 16.5)
            cents.append(np.array([(blue * X).sum(), (blue * Y).sum()]) / blue.sum())
        moved = cents[1] - cents[0]
        assert d.angle_deg == 0.0 and 1.0 <= np.hypot(*d.center_mm) <= 2.0
        assert np.allclose(moved, d.center_mm, atol=0.03), (moved, d.center_mm)


def test_dimensions_are_the_rendered_geometry():
    """The dish's area is π (diameter / 2)², and the gold across the band at 3 o'clock is ``band_width``."""
    gold = lab_to_linear_srgb((72.0, 4.0, 42.0))  # picks the channel that tells gold from glaze
    for i, fault in enumerate(["none", "dimension", "dimension", "dimension"]):
        u = zoo.make_zoo_unit(FAM, i + 10, fault, 4, "station")
        rgba, X, Y, t = _texture(u)
        d = 2 * math.sqrt(rgba[..., 3].sum() * t * t / math.pi)
        assert d == pytest.approx(u.dim("diameter"), abs=0.01)
        glaze = lab_to_linear_srgb(u.lab("glaze"))
        k = int(np.argmax(np.abs(gold - glaze)))
        rows = np.nonzero(np.abs(Y[:, 0]) < 0.4)[0]
        cols = np.nonzero((X[0] > 27.5) & (X[0] < 33.5))[0]
        strip = rgba[np.ix_(rows, cols)][..., k]
        x = X[0, cols]
        band = np.median(strip[:, np.abs(x - 30.5 * u.dim("diameter") / 70.0) < 0.5])  # the gold as lit there
        ground = np.median(strip[:, (x < 28.5) | (x > 32.5)])
        frac = np.clip((strip - ground) / (band - ground), 0, 1)
        width = np.median(frac.sum(axis=1)) * t
        assert width == pytest.approx(u.dim("band_width"), abs=0.04), (width, u.dim("band_width"))


def test_highlight_stays_with_the_light():
    """Shifting the dish under the station light moves its highlight over the dish by the opposite shift."""
    g = FAM.golden_unit()
    a, _, _, _ = _texture(g)
    b, X, Y, _ = _texture(dataclasses.replace(g, pose=(0.0, 6.0, 0.0)))
    diff = (b - a)[..., 1]
    glaze = np.hypot(X, Y) < 28.0
    lo = np.unravel_index(np.argmin(np.where(glaze, diff, 0)), diff.shape)
    hi = np.unravel_index(np.argmax(np.where(glaze, diff, 0)), diff.shape)
    # the difference of two Gaussians 6 mm apart peaks on the far side of the new centre
    assert X[0, hi[1]] < X[0, lo[1]] and diff.max() > 0.01
    assert abs(Y[hi[0], 0] - Y[lo[0], 0]) < 3.0


def test_anomaly_zones_are_drawn_on_the_dish_not_the_table():
    """A buyer draws a zone on the product: every anomaly zone ends within 1 mm past the dish's
    edge (r 35 mm), the edge itself lies inside the rim zone, and the ruler a hand-held frame
    lays beside the dish (centre ``ruler_spot_mm``, 15 mm past the edge) is in none of them."""
    radii = {k: np.hypot(*np.asarray(z["polygon_mm"], float).T) for k, z in FAM.anomaly_zones.items()}
    assert max(float(r.max()) for r in radii.values()) <= 35.0 + 1.0 + 1e-3
    assert float(radii["rim"].max()) > 35.0 + 0.3  # the outline (and a chip on it) is inside the rim zone
    rx, ry = FAM.ruler_spot_mm
    assert math.hypot(rx, ry) - 36.0 > 10.0
