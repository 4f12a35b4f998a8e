"""Known-answer tests of the pure protocol helpers of scripts/bench_anomaly.py (no data needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "bench_anomaly.py"
_spec = importlib.util.spec_from_file_location("bench_anomaly", _PATH)
B = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(B)


def test_grow_small_box_is_centred_at_min_size():
    out = B.grow(np.array([[10.0, 20.0, 16.0, 24.0]]), 32)
    np.testing.assert_allclose(out, [[-3.0, 6.0, 29.0, 38.0]])  # centre (13, 22), 32 x 32


def test_grow_leaves_larger_sides_alone_and_zero_is_identity():
    b = np.array([[0.0, 0.0, 50.0, 10.0]])
    np.testing.assert_allclose(B.grow(b, 32), [[0.0, -11.0, 50.0, 21.0]])
    np.testing.assert_allclose(B.grow(b, 0), b)


def test_pad_adds_margin_each_side():
    np.testing.assert_allclose(B.pad(np.array([[10.0, 10.0, 12.0, 14.0]]), 8), [[2.0, 2.0, 20.0, 22.0]])


def test_apply_convention_rejects_unknown_kind():
    with pytest.raises(ValueError, match="grow"):
        B.apply_convention(np.zeros((0, 4)), "shrink", 3)


def test_match_is_one_to_one_greedy():
    gt = np.array([[0.0, 0.0, 10.0, 10.0]])
    pred = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])  # both overlap the one box
    assert B.match(pred, gt) == 1
    assert B.match(pred[:0], gt) == 0
    # threshold 0.33: IoU 0.3267 fails, 0.35 passes
    assert B.match(np.array([[0.0, 0.0, 9.8, 10.0]]), np.array([[0.0, 0.0, 30.0, 10.0]])) == 0
    assert B.match(np.array([[0.0, 0.0, 10.5, 10.0]]), np.array([[0.0, 0.0, 30.0, 10.0]])) == 1


def test_tight_box_fails_raw_but_matches_grown_annotation_sized():
    gt = np.array([[100.0, 100.0, 130.0, 128.0]])  # a typical DeepPCB box, 30 x 28
    tight = np.array([[112.0, 111.0, 118.0, 117.0]])  # a 6 x 6 px defect inside it
    assert B.region_scores([tight], [gt], "grow", 0) == (0, 1, 1)
    assert B.region_scores([tight], [gt], "grow", 32) == (1, 1, 1)
    assert B.region_scores([tight], [gt], "pad", 12) == (1, 1, 1)


def test_prf_known_values():
    p, r, f = B.prf(3, 4, 6)
    assert (p, r) == (0.75, 0.5)
    assert f == pytest.approx(0.6)
    assert B.prf(0, 0, 0) == (0.0, 0.0, 0.0)


def test_box_size_percentiles():
    gts = [np.array([[0, 0, 10, 20], [0, 0, 30, 40]], float), np.array([[5, 5, 25, 35]], float)]
    pc = B.box_size_percentiles(gts, qs=(0, 50, 100))
    assert pc[0] == (10.0, 20.0) and pc[50] == (20.0, 30.0) and pc[100] == (30.0, 40.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 80), st.floats(1, 80)), min_size=1, max_size=8),
       st.integers(0, 64))
def test_grow_contains_original_and_reaches_min(rows, m):
    b = np.array([[x, y, x + w, y + h] for x, y, w, h in rows])
    g = B.grow(b, m)
    assert np.all(g[:, :2] <= b[:, :2] + 1e-9) and np.all(g[:, 2:] >= b[:, 2:] - 1e-9)
    assert np.all(g[:, 2:] - g[:, :2] >= np.minimum(m, 1e9) - 1e-9)
    np.testing.assert_allclose((g[:, :2] + g[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2, atol=1e-9)


def test_match_flags_and_near_frame():
    gt = np.array([[0.0, 0.0, 10.0, 10.0]])
    pred = np.array([[50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
    assert B.match_flags(pred, gt).tolist() == [False, True, False]
    boxes = np.array([[5.0, 0.0, 100.0, 2.0], [638.0, 5.0, 640.0, 90.0], [5.0, 5.0, 20.0, 20.0]])
    assert B.near_frame(boxes, (640, 640), 3).tolist() == [True, True, False]
