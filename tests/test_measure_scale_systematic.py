"""The scale reference's systematic floor: a strain read over a short lever arm is no better than
a feature's systematic position error over that arm, so two lines a few px apart that a resampled
photo shows 0.1 px further out do not stretch the unit by percents, while a reference that spans
the product still corrects a registration that absorbed a change of size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from goldenvision.measure import scale_reference
from goldenvision.measure.scale_reference import (
    SYSTEMATIC_PX,
    _strain_precision,
    _systematic_strain_cov,
    _with_systematic_floor,
    refine_on_reference,
)
from goldenvision.results import RegistrationResult

SHAPE = (200, 320)


def _render(fn, ss: int = 8) -> np.ndarray:
    """``fn(x, y)`` (grey levels over px coordinates) rendered by area averaging, then blurred."""
    ys, xs = np.mgrid[0 : SHAPE[0] * ss, 0 : SHAPE[1] * ss].astype(np.float64)
    big = fn((xs + 0.5) / ss - 0.5, (ys + 0.5) / ss - 0.5).astype(np.float32)
    img = cv2.resize(big, (SHAPE[1], SHAPE[0]), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _teeth(gap: float):
    """A row of vertical bars (teeth, 8 px wide every 14 px, rows 60-140) each crossed by two dark
    lines ``gap`` px apart about row 100: the only structure across the row is those lines."""
    def fn(x, y):
        on = ((x % 14.0) < 8.0) & (y > 60) & (y < 140)
        v = np.where(on, 180.0, 40.0)
        for yl in (100.0 - gap / 2, 100.0 + gap / 2):
            v = v - on * 60.0 * np.exp(-(((y - yl) / 0.8) ** 2))
        return v
    return fn


def _identity() -> RegistrationResult:
    return RegistrationResult(np.eye(3), ok=True, rms_px=0.05, method="test", confidence=1.0, reference_shape_hw=SHAPE)


def test_the_lever_arm_sets_the_floor():
    rng = np.random.default_rng(0)
    n = 4000
    # evidence across y only 4 px from the centroid, along x spread over +-100 px
    xc, yc = rng.uniform(-100, 100, n), rng.choice([-4.0, 4.0], n)
    gx, gy = rng.normal(0, 10, n), rng.normal(0, 10, n)
    jac = np.stack([gx * xc, gx * yc + gy * xc, gy * yc, gx, gy, np.ones(n), np.ones(n)], axis=1)
    cov = _systematic_strain_cov(jac, np.ones(n), 1.0)
    assert cov is not None
    sd = np.sqrt(np.diag(cov))
    assert sd[2] == pytest.approx(SYSTEMATIC_PX / 4.0, rel=0.01)  # across: 4 px of arm
    assert sd[0] == pytest.approx(SYSTEMATIC_PX / np.sqrt(np.mean(xc * xc)), rel=0.05)  # along: 58 px
    # no gradient along y at all: the data say nothing there, and the floor does not pretend to
    jac_x = jac.copy()
    jac_x[:, 4] = 0.0
    jac_x[:, 2] = 0.0
    assert _systematic_strain_cov(jac_x, np.ones(n), 1.0)[2, 2] == 1.0


def test_the_floor_weighs_data_against_the_prior():
    p0 = _strain_precision(0.01)
    data_cov = np.diag([1e-6, 1e-6, 1e-4])  # the data: 0.1 % along, 1 % across
    post = np.linalg.inv(np.linalg.inv(data_cov) + p0)
    theta_d = np.array([0.005, 0.0, 0.03])
    theta = post @ np.linalg.inv(data_cov) @ theta_d
    # no systematic error: nothing moves
    same, post_same = _with_systematic_floor(post, p0, theta, np.zeros((3, 3)))
    assert np.allclose(same, theta) and np.allclose(post_same, post)
    # a systematic error of 3 % across: the estimate across goes most of the way back to the
    # registration's, and its stated spread grows towards the prior's; along, it hardly moves
    moved, post_moved = _with_systematic_floor(post, p0, theta, np.diag([1e-8, 1e-8, 9e-4]))
    assert abs(moved[2]) < 0.35 * abs(theta[2])
    assert moved[0] == pytest.approx(theta[0], rel=0.02)
    assert post_moved[2, 2] > 2.0 * post[2, 2]


def test_two_close_lines_read_further_apart_do_not_stretch_the_unit(monkeypatch):
    golden = _render(_teeth(8.0))
    unit = _render(_teeth(8.2))  # 0.1 px out on each line: what a resampled, compressed photo does
    ref = np.zeros(SHAPE, bool)
    ref[92:109, 20:300] = True  # the teeth between their ends (the measured chain's outline is out)

    def across(systematic_px: float) -> tuple[float, float]:
        monkeypatch.setattr(scale_reference, "SYSTEMATIC_PX", systematic_px)
        fit = refine_on_reference(golden, unit, _identity(), ref, prior_strain_std=0.008)
        assert fit is not None
        return float(fit.correction[1, 1] - 1.0), float(np.sqrt(fit.cov_linear[2, 2]))

    raw, raw_sd = across(0.0)
    kept, kept_sd = across(SYSTEMATIC_PX)
    # without the floor the two lines stretch the unit by percents and the fit claims a tenth of a
    # percent: dozens of its own sigmas off (the truth is 0)
    assert abs(raw) > 0.02 and abs(raw) > 20 * raw_sd
    # with it the strain kept is less than half of that, and within 2.5 of its stated sigmas
    assert abs(kept) < 0.5 * abs(raw)
    assert abs(kept) < 2.5 * kept_sd


def test_a_reference_across_the_product_still_undoes_a_registration_stretched_by_a_feature():
    def scene(x, y):
        inside = (np.abs(x - 160.0) < 140) & (np.abs(y - 100.0) < 85)
        return 60.0 + 120.0 * ((np.sin(x / 5.0) * np.sin(y / 7.0) > 0.3) & inside)
    golden = _render(scene)
    unit = _render(scene) + np.random.default_rng(1).normal(0.0, 1.0, SHAPE).astype(np.float32)
    ref = np.zeros(SHAPE, bool)
    ref[20:-20, 25:-25] = True
    # the same camera (the truth is the identity), but the unit's registration shrank the unit by 2 %
    # (what it absorbed of a measured outline larger than the golden's)
    c = np.array([160.0, 100.0])
    s = 1 / 1.02
    h = np.array([[s, 0.0, c[0] * (1 - s)], [0.0, s, c[1] * (1 - s)], [0.0, 0.0, 1.0]])
    reg = RegistrationResult(h, ok=True, rms_px=0.05, method="test", confidence=1.0, reference_shape_hw=SHAPE)
    fit = refine_on_reference(golden, unit, reg, ref, prior_strain_std=0.008)
    assert fit is not None
    hm = fit.registration.homography
    # the reference spans the product (lever arms of 70-80 px: a floor of about 0.14 %), and the
    # correction puts the unit's scale back at the truth's 1 in both directions
    assert hm[0, 0] == pytest.approx(1.0, abs=0.003)
    assert hm[1, 1] == pytest.approx(1.0, abs=0.003)
