"""Keypoint inliers held by a part of the product that moved on it, and alignments whose
refinement stopped short of its minimum (goldenvision.registration.refine)."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from goldenvision.registration import RegistrationModel, corner_error_px, register
from goldenvision.registration._base import (
    _BASIN_TOL_PX,
    _PART_MAX_SHARE,
    _corner_diff,
    _n_levels_for,
    _norm_mat,
    _pyramid,
    _step_warp,
)
from goldenvision.registration.refine import _basin_check, _evaluate, _inlier_share, _refine, _verify
from goldenvision.registration.refusal import RefusalCode
from goldenvision.transform import apply_homography

from tests.test_registration import similarity, textured, warp

H, W = 360, 480


def plate(seed: int, label_shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A plate (a rectangle with soft blobs: many edges, few corners) carrying a feature-rich
    label (90 x 70 px of blobs and lines) at (320, 210), moved by ``label_shift`` px."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.full((H, W), 70, np.float32)
    cv2.rectangle(img, (40, 30), (440, 330), 140, -1)
    for _ in range(14):
        cx, cy, s, a = rng.uniform(70, 410), rng.uniform(60, 300), rng.uniform(6, 16), rng.uniform(-60, 60)
        img += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    x0, y0 = 320 + label_shift[0], 210 + label_shift[1]
    img[y0:y0 + 70, x0:x0 + 90] = textured(seed + 7, 70, 90).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def aligned():
    """A well-determined alignment of a textured part: (model, moving pyramid, truth
    reference px -> moving px, its refined _Fine)."""
    ref = textured(1)
    model = RegistrationModel.fit(ref)
    g = similarity(5.0, 1.0, 4.0, -3.0)
    mov = warp(ref, g, noise=2.0)
    mpyr = _pyramid(mov, _n_levels_for(mov.shape))
    h, fine, _, why = _evaluate(model, mpyr, np.linalg.inv(g), affine=False, pairs=None)
    assert why is None and fine is not None
    assert corner_error_px(h, np.linalg.inv(g), ref.shape) < 0.3
    return model, mpyr, g, fine


def _pairs(g: np.ndarray, x0: float, y0: float, x1: float, y1: float, moved_px: tuple[float, float],
           n: int = 60) -> np.ndarray:
    """Keypoint pairs (reference x, y, moving x, y; full px) inside a box of the reference whose
    content sits ``moved_px`` off in the unit (the part moved on the product)."""
    rng = np.random.default_rng(0)
    ref = np.c_[rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]
    return np.c_[ref, apply_homography(ref + np.asarray(moved_px), g)]


def test_inliers_on_a_minor_part_that_moved_leave_the_dense_alignment_standing(aligned):
    model, mpyr, g, fine = aligned
    pairs = _pairs(g, 300, 200, 380, 260, (7.0, -6.0))  # 80 x 60 px of a 480 x 360 part
    assert _inlier_share(model, pairs) < _PART_MAX_SHARE
    h, f, _, why = _verify(model, mpyr, copy.deepcopy(fine), affine=False, pairs=pairs, start_only=False, settle=True)
    assert why is None
    assert corner_error_px(h, np.linalg.inv(g), (H, W)) < 0.3
    assert f is not None and f.note is not None and "disagrees with the feature inliers" in f.note


def test_inliers_spread_over_the_product_that_disagree_still_refuse(aligned):
    model, mpyr, g, fine = aligned
    pairs = _pairs(g, 10, 10, W - 10, H - 10, (7.0, -6.0))  # the whole part, a period off say
    assert _inlier_share(model, pairs) > _PART_MAX_SHARE
    _, _, _, why = _verify(model, mpyr, copy.deepcopy(fine), affine=False, pairs=pairs, start_only=False, settle=True)
    assert why is not None and why.code is RefusalCode.FEATURES_DISAGREE


def test_inliers_that_agree_carry_no_note(aligned):
    model, mpyr, g, fine = aligned
    pairs = _pairs(g, 300, 200, 380, 260, (0.0, 0.0))
    _, f, _, why = _verify(model, mpyr, copy.deepcopy(fine), affine=False, pairs=pairs, start_only=False, settle=True)
    assert why is None and f is not None and f.note is None


@pytest.mark.parametrize("shift", [(8, 0), (0, 9)])
def test_label_moved_on_its_plate_aligns_the_plate_and_says_so(shift):
    """The keypoints lock on the label, the dense alignment on the plate: the plate's alignment
    stands (the label's move is the anomaly stage's to find), with a note."""
    ref = plate(4)
    g = similarity(6.0, 1.0, 5.0, -4.0)
    r = register(ref, warp(plate(4, shift), g, noise=2.0))
    assert r.ok, r.reason
    assert corner_error_px(r.homography, np.linalg.inv(g), ref.shape) < 0.3
    assert r.note is not None and "feature inliers" in r.note
    assert r.to_dict()["note"] == r.note


def test_label_in_place_carries_no_note():
    ref = plate(4)
    g = similarity(6.0, 1.0, 5.0, -4.0)
    r = register(ref, warp(plate(4), g, noise=2.0))
    assert r.ok and r.note is None
    assert corner_error_px(r.homography, np.linalg.inv(g), ref.shape) < 0.3


def _displaced(model: RegistrationModel, fine, px: float, along: np.ndarray | None = None):
    """``fine`` moved ``px`` (worst corner) along ``along`` (normalised parameters; its least
    determined direction by default), with a lower edge correlation: a refinement that stopped
    short of its minimum."""
    from goldenvision.registration._base import _corner_move

    d = fine.weak if along is None else along
    nmat = _norm_mat(model.shape_hw_)[0]
    short = copy.deepcopy(fine)
    gp = fine.g @ np.linalg.inv(_step_warp(px / _corner_move(d, model.shape_hw_) * d, nmat))
    short.g = gp / gp[2, 2]
    short.rho = fine.rho - 0.2
    return short


def test_a_refinement_stopped_short_settles_on_the_minimum_both_restarts_find(aligned):
    model, mpyr, g, fine = aligned
    short = _displaced(model, fine, 3.0)
    h_short = np.linalg.inv(short.g)
    refusal, settled = _basin_check(model, mpyr, h_short / h_short[2, 2], short, False)
    assert refusal is not None and refusal.code is RefusalCode.UNDETERMINED  # the old answer
    assert settled is not None
    h_set = np.linalg.inv(settled.g)
    assert corner_error_px(h_set / h_set[2, 2], np.linalg.inv(g), (H, W)) < 0.3
    h, f, _, why = _verify(model, mpyr, short, affine=False, pairs=None, start_only=False, settle=True)
    assert why is None
    assert corner_error_px(h, np.linalg.inv(g), (H, W)) < 0.3


def test_restarts_that_part_ways_settle_nothing():
    """A bar free along its length, its alignment moved along the bar (with a lower
    correlation): restarts either way stay where they start, apart, so nothing settles and the
    refusal stands."""
    ref = np.full((H, W), 30, np.uint8)
    ref[:, 200:260] = 200
    model = RegistrationModel.fit(cv2.GaussianBlur(ref, (0, 0), 1.0))
    g = similarity(0.0, 1.0, 4.0, 9.0)
    mov = warp(cv2.GaussianBlur(ref, (0, 0), 1.0), g, noise=2.0)
    mpyr = _pyramid(mov, _n_levels_for(mov.shape))
    fine = _refine(model, mpyr, g, affine=False)
    assert fine is not None and fine.weak is not None
    short = _displaced(model, fine, 3.0)
    h_short = np.linalg.inv(short.g)
    refusal, settled = _basin_check(model, mpyr, h_short / h_short[2, 2], short, False)
    assert refusal is not None and refusal.code is RefusalCode.UNDETERMINED
    assert settled is None
    _, _, _, why = _verify(model, mpyr, short, affine=False, pairs=None, start_only=False, settle=True)
    assert why is not None


def test_the_settled_restarts_agree_within_the_basin_tolerance(aligned):
    """Restarts from both sides of a displaced alignment of well-determined content come back to
    one place (the premise of settling)."""
    model, mpyr, g, fine = aligned
    short = _displaced(model, fine, 3.0)
    h_short = np.linalg.inv(short.g)
    _, settled = _basin_check(model, mpyr, h_short / h_short[2, 2], short, False)
    assert settled is not None
    h_set = np.linalg.inv(settled.g)
    h_true = np.linalg.inv(fine.g)
    assert _corner_diff(h_set / h_set[2, 2], h_true / h_true[2, 2], (H, W)) < _BASIN_TOL_PX
