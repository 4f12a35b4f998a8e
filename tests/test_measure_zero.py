"""Zeroing on the golden: an edge tool's systematic offset on a feature (a lit bevel, a shaded
bevel) is read on the golden captures at sealing and taken off every unit's reading."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from goldenvision.measure.dimensions import ZERO_MAX_PX, golden_zero_offsets, measure_dimension, measure_dimensions
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec

SCALE = 0.1  # mm per px


def _plate(left: float, right: float) -> np.ndarray:
    """A plate (grey 150) on a ground (60) from ``left`` to ``right`` px, a lit bevel (200) 2 px
    inside its left edge and a shaded one (105) inside its right edge, blurred by the lens."""
    ss = 8
    x = (np.arange(480 * ss) + 0.5) / ss - 0.5
    p = np.full_like(x, 60.0)
    p[(x >= left) & (x < right)] = 150.0
    p[(x >= left) & (x < left + 2)] = 200.0
    p[(x >= right - 2) & (x < right)] = 105.0
    p = ndimage.gaussian_filter1d(p.reshape(480, ss).mean(axis=1), 1.5)
    img = np.tile(p, (120, 1)) + np.random.default_rng(0).normal(0, 0.5, (120, 480))
    return np.clip(img, 0, 255).astype(np.uint8)


DIM = DimensionSpec(name="plate_width", measure="width", nominal_mm=28.0, tolerance_mm=(-0.2, 0.2),
                    caliper={"center": (240.0, 60.0), "angle_deg": 0.0, "length_px": 400.0, "width_px": 20.0})
IDENTITY = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                              reference_shape_hw=(120, 480))


def _golden_record(images: list[np.ndarray]) -> dict:
    vals = [measure_dimension(im, DIM, IDENTITY, SCALE, reference="golden_frame").measured_mm for im in images]
    return {"plate_width": {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)), "values": vals}}


def test_zeroing_on_the_golden_takes_off_the_tools_offset():
    golden = [_plate(100.0, 380.0), _plate(100.5, 380.5), _plate(99.5, 379.5)]  # nominal 28 mm, moved
    rec = _golden_record(golden)
    zero = golden_zero_offsets([DIM], rec, SCALE)
    off, sem, n = zero["plate_width"]
    assert n == 3 and sem is not None and sem < 0.01
    assert 0.04 < off < ZERO_MAX_PX * SCALE  # the bevels make the tool read the plate narrow
    for left, right in [(99.0, 381.0), (101.0, 379.0), (100.25, 380.75)]:
        true_mm = (right - left) * SCALE
        raw = measure_dimension(_plate(left, right), DIM, IDENTITY, SCALE, reference="golden_frame")
        zeroed = measure_dimension(_plate(left, right), DIM, IDENTITY, SCALE, reference="golden_frame",
                                   zero=zero["plate_width"])
        assert abs(raw.measured_mm - true_mm) > 0.05
        assert abs(zeroed.measured_mm - true_mm) < 0.03
        assert zeroed.uncertainty_mm >= raw.uncertainty_mm
        assert math.isclose(zeroed.uncertainty_mm, math.hypot(raw.uncertainty_mm, sem, sem * math.sqrt(3)),
                            rel_tol=1e-9)
    # the same through measure_dimensions, by name
    (res,) = measure_dimensions(_plate(99.0, 381.0), [DIM], IDENTITY, SCALE, reference="golden_frame", zero=zero)
    assert not isinstance(res, Exception) and abs(res.measured_mm - 28.2) < 0.03


def test_a_golden_off_nominal_is_not_taken_for_the_tools_offset():
    rec = _golden_record([_plate(90.0, 380.0)])  # the golden itself is 1 mm wider than nominal
    assert golden_zero_offsets([DIM], rec, SCALE) == {}
    # one capture: zeroed, with the reading's own uncertainty standing for the zero's
    one = _golden_record([_plate(100.0, 380.0)])
    one["plate_width"]["std"] = None
    off, sem, n = golden_zero_offsets([DIM], one, SCALE)["plate_width"]
    assert sem is None and n == 1
    raw = measure_dimension(_plate(100.0, 380.0), DIM, IDENTITY, SCALE, reference="golden_frame")
    zeroed = measure_dimension(_plate(100.0, 380.0), DIM, IDENTITY, SCALE, reference="golden_frame", zero=(off, sem, n))
    assert math.isclose(zeroed.uncertainty_mm, math.sqrt(2.0) * raw.uncertainty_mm, rel_tol=1e-9)
    assert abs(zeroed.measured_mm - 28.0) < 1e-9
    # nothing recorded, no scale: no offsets
    assert golden_zero_offsets([DIM], None, SCALE) == {} and golden_zero_offsets([DIM], rec, None) == {}


def test_the_edge_band_mask_leaves_out_the_measured_edges_over_the_whole_side():
    from goldenvision.measure.dimensions import EDGE_BAND_MIN_PX, edge_band_mask

    img = _plate(100.0, 380.0)  # edges at x = 100 and 380, bands at least EDGE_BAND_MIN_PX wide
    keep = edge_band_mask(img, [DIM])
    assert keep is not None and keep.shape == img.shape
    half = max(EDGE_BAND_MIN_PX, 0.05 * 280.0)
    for x_edge in (100.0, 380.0):
        assert not keep[:, int(round(x_edge))].any()  # the whole side, not only the caliper's band
        assert keep[:, int(x_edge + half + 2)].all() and keep[:, int(x_edge - half - 2)].all()
    assert keep[:, 240].all()
    # a circle: a ring around its edge
    yy, xx = np.mgrid[0:120, 0:480]
    disc = np.where(np.hypot(xx - 240.0, yy - 60.0) < 30.0, 200, 60).astype(np.uint8)
    circ = DimensionSpec(name="d", measure="diameter", nominal_mm=6.0, tolerance_mm=(-0.1, 0.1),
                         circle={"center": (240.0, 60.0), "radius_px": 30.0, "search_px": 8.0})
    ring = edge_band_mask(disc, [circ])
    assert ring is not None and not ring[60, 270] and not ring[60, 210] and ring[60, 240] and ring[60, 300]
    # nothing measurable: None
    assert edge_band_mask(np.full((120, 480), 90, np.uint8), [DIM]) is None


def test_an_offset_too_large_to_zero_is_an_uncertainty_of_every_reading():
    """A golden read 1 mm off nominal (over ZERO_MAX_PX): the golden off nominal or the tool on
    another edge, which the golden cannot tell apart. Not zeroed; it joins every reading's
    uncertainty as a rectangular +-1 mm, so a unit read 1 mm over is not proven out of tolerance."""
    from goldenvision.measure.dimensions import golden_unexplained_offsets

    rec = _golden_record([_plate(90.0, 380.0)])
    (off,) = golden_unexplained_offsets([DIM], rec, SCALE).values()
    assert abs(off) > ZERO_MAX_PX * SCALE and 0.8 < abs(off) < 1.1  # the tool adds its own ~0.1 mm
    near = _golden_record([_plate(100.0, 380.0)])  # zeroed: nothing unexplained
    assert golden_unexplained_offsets([DIM], near, SCALE) == {} and golden_zero_offsets([DIM], near, SCALE)
    raw = measure_dimension(_plate(90.0, 380.0), DIM, IDENTITY, SCALE, reference="golden_frame")
    (res,) = measure_dimensions(_plate(90.0, 380.0), [DIM], IDENTITY, SCALE, reference="golden_frame",
                                unexplained={"plate_width": off})
    assert not isinstance(res, Exception)
    assert res.measured_mm == raw.measured_mm  # not zeroed
    assert math.isclose(res.uncertainty_mm, math.hypot(raw.uncertainty_mm, abs(off) / math.sqrt(3.0)), rel_tol=1e-9)
    assert golden_unexplained_offsets([DIM], None, SCALE) == {} and golden_unexplained_offsets([DIM], rec, None) == {}


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


#: a plate drawn ``w`` mm wide about x = 240 px (0.1 mm per px)
def _plate_mm(w: float) -> np.ndarray:
    return _plate(240.0 - 5.0 * w, 240.0 + 5.0 * w)


SPEC_NONE = {"product": "plate", "revision": "A", "scale_mm_per_px": SCALE, "registration": "none",
             "dimensions": [{"name": "plate_width", "measure": "width", "nominal_mm": 28.0, "tolerance_mm": [-0.2, 0.2],
                             "caliper": {"center": [240.0, 60.0], "angle_deg": 0.0, "length_px": 400.0,
                                         "width_px": 20.0}}]}


def test_a_golden_of_several_units_is_zeroed_on_their_certified_sizes():
    """Three golden plates of their own widths (28.00, 28.08, 28.07 mm): zeroed on the nominal, the
    tool's offset is taken 0.05 mm too small (their mean is not nominal) and every unit reads 0.05
    mm narrow; zeroed on each one's certified width, the offset is the tool's alone, its spread too."""
    import goldenvision as gv

    widths = [28.0, 28.08, 28.07]
    caps = [_rgb(_plate_mm(w)) for w in widths]
    plain = gv.seal(caps, SPEC_NONE)
    certified = gv.seal(caps, SPEC_NONE, golden_dimensions_mm={"plate_width": widths})
    rec = certified.meta["golden_dimensions_mm"]["plate_width"]
    assert rec["certified_mm"] == widths and "certified_mm" not in plain.meta["golden_dimensions_mm"]["plate_width"]
    off_plain = golden_zero_offsets([DIM], plain.meta["golden_dimensions_mm"], SCALE)["plate_width"]
    off_cert, sem_cert, n = golden_zero_offsets([DIM], certified.meta["golden_dimensions_mm"], SCALE)["plate_width"]
    assert n == 3 and math.isclose(off_plain[0] - off_cert, -float(np.mean(widths) - 28.0), abs_tol=0.01)
    assert sem_cert is not None and off_plain[1] is not None and sem_cert < 0.5 * off_plain[1]
    for true_mm in (27.9, 28.1):
        read_plain = gv.Inspector(plain).inspect(_rgb(_plate_mm(true_mm))).dimensions[0].measured_mm
        read_cert = gv.Inspector(certified).inspect(_rgb(_plate_mm(true_mm))).dimensions[0].measured_mm
        assert abs(read_cert - true_mm) < 0.02
        assert read_plain - true_mm < -0.035
    r = gv.Inspector(certified).inspect(_rgb(_plate_mm(28.0)))
    assert r.provenance["dimensions_zeroed_on_certified_sizes"] == ["plate_width"]
    assert "dimensions_zeroed_on_certified_sizes" not in gv.Inspector(plain).inspect(_rgb(_plate_mm(28.0))).provenance
    # one certified value: every capture shows that one unit
    one = gv.seal(caps[:1] * 2, SPEC_NONE, golden_dimensions_mm={"plate_width": 28.0})
    assert one.meta["golden_dimensions_mm"]["plate_width"]["certified_mm"] == [28.0, 28.0]


@pytest.mark.parametrize("values, match", [
    ({"plate_length": 28.0}, "no dimension 'plate_length'"),
    ({"plate_width": [28.0, 28.1]}, "one per capture .3., got 2"),
    ({"plate_width": float("nan")}, "finite length > 0"),
    ({"plate_width": -28.0}, "finite length > 0"),
    ({"plate_width": "wide"}, "a number of mm"),
    ({"plate_width": 2800.0}, "more than 10 tolerance bands"),
])
def test_certified_golden_sizes_are_checked_against_the_spec(values, match):
    from goldenvision.errors import SpecError
    from goldenvision.sealing import certified_dimensions
    from goldenvision.spec import load_spec

    with pytest.raises(SpecError, match=match):
        certified_dimensions(load_spec(SPEC_NONE), values, 3)
    assert certified_dimensions(load_spec(SPEC_NONE), None, 3) == {}
    assert certified_dimensions(load_spec(SPEC_NONE), {"plate_width": [28.05]}, 3) == {"plate_width": [28.05] * 3}


def test_seal_cli_takes_the_certified_golden_sizes(tmp_path):
    import json

    import cv2
    from typer.testing import CliRunner

    import goldenvision as gv
    from goldenvision.cli import app

    caps = []
    for i, w in enumerate([28.0, 28.08, 28.07]):
        caps.append(str(tmp_path / f"cap{i}.png"))
        cv2.imwrite(caps[-1], _plate_mm(w))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC_NONE))
    runner = CliRunner()
    base = ["seal", *caps, "--spec", str(spec)]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "a.golden"), "--golden-dim", "plate_width=28.0,28.08,28.07"])
    assert res.exit_code == 0, res.output
    rec = gv.load_golden(tmp_path / "a.golden").meta["golden_dimensions_mm"]["plate_width"]
    assert rec["certified_mm"] == [28.0, 28.08, 28.07]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "b.golden"), "--golden-dim", "plate_width"])
    assert res.exit_code == 64 and "NAME=MM" in res.output
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "c.golden"), "--golden-dim", "plate_length=28"])
    assert res.exit_code == 65 and "no dimension 'plate_length'" in res.output
    assert not (tmp_path / "b.golden").exists() and not (tmp_path / "c.golden").exists()


def test_certified_sizes_zero_only_the_readings_of_their_own_unit():
    """A capture of another unit read in the golden frame went through its registration onto capture 0,
    which takes its size for capture 0's: it stands for capture 0's certified size, not its own."""
    rec = {"plate_width": {"mean": 28.0, "std": 0.05, "values": [27.95, 27.97, 28.02],
                           "captures": [0, 1, 2], "own_frame": [True, False, False],
                           "certified_mm": [28.1, 27.9, 28.3]}}
    off, sem, n = golden_zero_offsets([DIM], rec, SCALE)["plate_width"]
    assert n == 3 and sem is not None and math.isclose(off, 28.1 - np.mean([27.95, 27.97, 28.02]))
    # without capture 0's reading, those readings stand for nothing certified: only its own frame's
    rec["plate_width"].update(captures=[1, 2, 3], own_frame=[False, True, False])
    off, sem, n = golden_zero_offsets([DIM], rec, SCALE)["plate_width"]
    assert n == 1 and sem is None and math.isclose(off, 27.9 - 27.97)
    rec["plate_width"].update(captures=[0, 1, 2])
    # read in their own frames (a station, a marker): all three, each against its own size
    rec["plate_width"].update(own_frame=[True, True, True], certified_mm=[28.0, 28.2, 27.8])
    off, _, n = golden_zero_offsets([DIM], rec, SCALE)["plate_width"]
    assert n == 3 and math.isclose(off, np.mean([0.05, 0.23, -0.22]))
