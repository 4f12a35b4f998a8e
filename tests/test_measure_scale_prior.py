"""The scale reference's prior and its covariance: a reference that pins one direction does not
drag the other along, and the stated covariance grows with residuals that are correlated over
whole regions (the block jackknife), which the plain Gauss-Newton formula does not see."""

from __future__ import annotations

import cv2
import numpy as np

from goldenvision.measure.scale_reference import _block_jackknife_cov, _psd_max, refine_on_reference
from goldenvision.results import RegistrationResult

SHAPE = (240, 320)


def _bars(h: np.ndarray, seed: int) -> np.ndarray:
    """Vertical bars of uneven pitch (structure along x only) through the affine ``h`` (px -> px)."""
    x = np.arange(SHAPE[1] * 4) / 4.0
    rng = np.random.default_rng(7)
    edges = np.cumsum(rng.uniform(6.0, 14.0, 60))
    prof = (np.searchsorted(edges, x) % 2).astype(np.float32) * 120 + 60
    big = np.tile(prof, (SHAPE[0] * 4, 1))
    big = cv2.resize(big, (SHAPE[1], SHAPE[0]), interpolation=cv2.INTER_AREA)
    img = cv2.warpAffine(big, h[:2], (SHAPE[1], SHAPE[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return img + np.random.default_rng(seed).normal(0.0, 1.0, img.shape).astype(np.float32)


def test_a_reference_that_pins_only_x_leaves_the_scale_along_y_to_the_registration():
    golden = _bars(np.eye(3), 0)
    unit = _bars(np.eye(3), 1)  # the same camera: the true registration is the identity
    # the unit's registration stretched along x by 1 % (what it absorbed of a measured feature); y is right
    c = np.array([SHAPE[1] / 2, SHAPE[0] / 2])
    h = np.array([[1.01, 0.0, c[0] * (1 - 1.01)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    reg = RegistrationResult(h, ok=True, rms_px=0.05, method="test", confidence=1.0, reference_shape_hw=SHAPE)
    ref = np.zeros(SHAPE, bool)
    ref[30:-30, 30:-30] = True
    fit = refine_on_reference(golden, unit, reg, ref, prior_strain_std=0.004)
    assert fit is not None
    hm = fit.registration.homography
    # x corrected by the bars (the composed map's x scale back at the truth's 1) ...
    assert abs(hm[0, 0] - 1.0) < 0.002
    # ... and y, which the bars say nothing about, left at the registration's (not dragged by x's -1 %)
    assert abs(hm[1, 1] - 1.0) < 0.002
    # the y scale's stated 1-sigma is the prior's order, not the data's
    sd_y = fit.length_std_px(np.array([0.0, 0.0]), np.array([0.0, 100.0])) / 100.0
    assert 0.001 < sd_y < 0.01


def _toy(rng: np.random.Generator, block_sd: float, grid: int = 8, per: int = 400):
    """A linear alignment problem (the 7 parameters of refine_on_reference's Gauss-Newton step) on
    grid x grid blocks of px; each block's residual has a common shift of 1-sigma ``block_sd`` px
    (correlated over the block) on top of white noise."""
    n = grid * grid * per
    bx = np.repeat(np.arange(grid * grid) % grid, per)
    by = np.repeat(np.arange(grid * grid) // grid, per)
    xs = bx * 20 + rng.uniform(0, 20, n)
    ys = by * 20 + rng.uniform(0, 20, n)
    xc, yc = xs - xs.mean(), ys - ys.mean()
    gx, gy = rng.normal(0, 10, n), rng.normal(0, 10, n)
    wv = rng.uniform(50, 200, n)
    jac = np.stack([gx * xc, gx * yc + gy * xc, gy * yc, gx, gy, wv, np.ones(n)], axis=1)
    shift = rng.normal(0, block_sd, (grid * grid, 2))[by * grid + bx]
    res = gx * shift[:, 0] + gy * shift[:, 1] + rng.normal(0, 2.0, n)
    return jac, res, xs, ys


def test_the_block_jackknife_sees_residuals_correlated_over_regions():
    rng = np.random.default_rng(3)
    est, jk_var, naive_var = [], [], []
    for _ in range(40):
        jac, res, xs, ys = _toy(rng, block_sd=0.3)
        w = np.ones(len(res))
        a = jac.T @ jac
        theta = np.linalg.solve(a, jac.T @ res)
        est.append(theta[0])
        r = res - jac @ theta
        s2 = float(r @ r) / (len(r) - 7)
        naive_var.append(s2 * np.linalg.inv(a)[0, 0])
        jk = _block_jackknife_cov(jac, w, r, np.zeros((7, 7)), np.zeros(7), xs, ys)
        assert jk is not None
        jk_var.append(jk[0, 0])
    true_var = float(np.var(est))
    # the plain formula (white residuals) is far too small; the jackknife is of the right size
    assert np.mean(naive_var) < 0.3 * true_var
    assert 0.4 * true_var < np.mean(jk_var) < 2.5 * true_var


def test_the_larger_covariance_in_every_direction():
    c1 = np.diag([1.0, 4.0, 1.0])
    c2 = np.diag([3.0, 1.0, 1.0])
    c = _psd_max(c1, c2)
    assert np.allclose(c, np.diag([3.0, 4.0, 1.0]))
    v = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    assert v @ c @ v >= max(v @ c1 @ v, v @ c2 @ v) - 1e-12
