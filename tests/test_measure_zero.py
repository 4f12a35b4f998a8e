"""Zeroing on the golden: an edge tool's systematic offset on a feature (a lit bevel, a shaded
bevel) is read on the golden captures at sealing and taken off every unit's reading."""

from __future__ import annotations

import math

import numpy as np
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
