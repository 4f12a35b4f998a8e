"""Small circles and widths beside clutter: the radial calipers' noise threshold on a short profile,
and the width's edge pair when a stronger edge of something else lies in the caliper."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from goldenvision.errors import MeasurementError
from goldenvision.measure import measure_circle
from goldenvision.measure.calipers import _image_noise
from goldenvision.measure.dimensions import measure_dimension
from goldenvision.results import RegistrationResult
from goldenvision.spec import DimensionSpec


def phi(u):
    return 0.5 * (1.0 + erf(u / np.sqrt(2.0)))


def _plated_hole(cx: float, cy: float, radius: float, *, noise: float, seed: int, blur: float = 1.1) -> np.ndarray:
    """A mounting hole as a hand-held photo shows it: a grey hole (45) in a bright plated ring (115,
    outer radius 1.75 x the hole's) on a dark board (20), blurred, with white noise; uint8."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    r = np.hypot(x - cx, y - cy)
    img = 20.0 + 95.0 * phi((1.75 * radius - r) / blur) - 70.0 * phi((radius - r) / blur)
    img += np.random.default_rng(seed).normal(0.0, noise, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_small_hole_found_by_radial_calipers(seed):
    # radius 7 px, search +-3.5 px: every radial profile is 7 px long and mostly the hole's edge, so
    # the noise read from its own second differences is the edge's curvature (4-8 times the noise)
    rng = np.random.default_rng(100 + seed)
    cx, cy, radius = 31.0 + rng.uniform(-0.5, 0.5), 32.0 + rng.uniform(-0.5, 0.5), 6.9 + rng.uniform(-0.2, 0.2)
    img = _plated_hole(cx, cy, radius, noise=3.0, seed=seed)
    fit = measure_circle(img, (cx + 0.4, cy - 0.3), 7.0, 3.5)
    assert fit.inliers.sum() >= 12
    # the blurred rim of so small a circle reads about 0.2 px small even without noise (the tool's
    # systematic error, which zeroing on the golden takes out); the noise adds under 0.1 px
    assert fit.diameter_px == pytest.approx(2 * radius - 0.2, abs=0.15)
    assert fit.center_px == pytest.approx((cx, cy), abs=0.15)


def test_no_circle_in_noise_still_refused():
    img = np.clip(np.round(np.random.default_rng(5).normal(60.0, 3.0, (64, 64))), 0, 255).astype(np.uint8)
    with pytest.raises(MeasurementError, match="radial calipers"):
        measure_circle(img, (32.0, 32.0), 7.0, 3.5)


@pytest.mark.parametrize("sigma", [1.0, 4.0])
def test_image_noise_of_a_patch_with_edges(sigma):
    flat = np.random.default_rng(3).normal(0.0, sigma, (64, 64))
    assert _image_noise(flat, 0, 0, 64, 64) == pytest.approx(sigma, rel=0.12)
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    r = np.hypot(x - 32.0, y - 32.0)
    rims = 20.0 + 95.0 * phi((15.75 - r) / 1.1) - 70.0 * phi((9.0 - r) / 1.1) + flat
    # the two rims (a fifth of the patch's pixels) raise the 20th percentile little
    assert _image_noise(rims, 14, 14, 51, 51) == pytest.approx(sigma, rel=0.25)
    assert np.isnan(_image_noise(rims, 60, 60, 70, 70))  # 4 x 4 px left inside the image


# ----------------------------------------------------------------------------- widths
def _board(left: float, right: float, paper_until: float | None) -> np.ndarray:
    """A dark board (60) on a grey table (90), and left of it, up to ``paper_until``, a white sheet
    of paper (250) whose edge is a light-to-dark step over 5 times the board's."""
    x = np.arange(480, dtype=np.float64)
    prof = 90.0 - 30.0 * (phi((x - left) / 0.8) - phi((x - right) / 0.8))
    if paper_until is not None:
        prof += 160.0 * (1.0 - phi((x - paper_until) / 0.8))
    img = np.tile(prof, (80, 1)) + np.random.default_rng(1).normal(0.0, 0.5, (80, 480))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


BOARD = DimensionSpec(name="board_width", measure="width", nominal_mm=30.0, tolerance_mm=(-0.2, 0.2),
                      caliper={"center": (240.0, 40.0), "angle_deg": 0.0, "length_px": 440.0, "width_px": 8.0})
IDENTITY = RegistrationResult(np.eye(3), ok=True, rms_px=0.0, method="identity", confidence=1.0,
                              reference_shape_hw=(80, 480))


def test_width_beside_a_stronger_edge_pairs_near_the_golden_width():
    img = _board(100.0, 400.0, paper_until=40.0)
    with pytest.raises(MeasurementError, match="board_width: "):  # the 25 % rule leaves no pair
        measure_dimension(img, BOARD, IDENTITY, 0.1, reference="golden_frame")
    res = measure_dimension(img, BOARD, IDENTITY, 0.1, reference="golden_frame", golden_px=301.0)
    assert res.measured_mm == pytest.approx(30.0, abs=0.02)
    # a board 2 % narrower than its golden still reads its own width
    narrow = measure_dimension(_board(103.0, 397.0, 40.0), BOARD, IDENTITY, 0.1, reference="golden_frame",
                               golden_px=300.0)
    assert narrow.measured_mm == pytest.approx(29.4, abs=0.02)
    # no pair within GOLDEN_FALLBACK_SLACK (5 %) of the golden's width: review, with the first/last
    # rule's reason (pairs: 300 px board, 360 px paper edge to the board's right edge)
    for far in (280.0, 330.0, 390.0):
        with pytest.raises(MeasurementError, match="does not span both sides"):
            measure_dimension(img, BOARD, IDENTITY, 0.1, reference="golden_frame", golden_px=far)
    # without clutter nothing changes
    clean = measure_dimension(_board(100.0, 400.0, None), BOARD, IDENTITY, 0.1, reference="golden_frame",
                              golden_px=301.0)
    assert clean.measured_mm == pytest.approx(30.0, abs=0.02)
