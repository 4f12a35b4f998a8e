"""Detection metrics (goldenvision.detect.metrics) on hand-computed cases; no torch."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.detect.decode import decode_maps
from goldenvision.detect.metrics import (
    ImageDetections,
    ImageTruth,
    average_precision,
    best_threshold,
    confusion_matrix,
    f_score,
    iou_matrix,
    mean_average_precision,
)


def det(boxes, scores, labels):
    return ImageDetections(np.array(boxes, float).reshape(-1, 4), np.array(scores, float), np.array(labels, int))


def gt(boxes, labels):
    return ImageTruth(np.array(boxes, float).reshape(-1, 4), np.array(labels, int))


def test_iou_matrix_hand_values():
    a = [[0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]]
    # identical 1; half overlap 50/150; disjoint 0; contained 25/100
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 1 / 3, 0.0, 0.25])


def test_f_score_deeppcb_protocol_one_to_one_and_strict_iou():
    truth = [gt([[0, 0, 10, 10], [100, 100, 120, 120], [200, 200, 210, 210]], [0, 1, 0])]
    dets = [det(
        [
            [0, 0, 10, 10],  # TP class 0 (IoU 1)
            [1, 0, 11, 10],  # duplicate on the same truth: FP (one-to-one)
            [104, 100, 124, 120],  # IoU 16*20/(2*400-320) = 320/480 = 0.667, class 1: TP
            [200, 200, 210, 210],  # perfect box but class 1 on a class-0 truth: FP, and that truth FN
            [300, 300, 310, 310],  # nothing there: FP
        ],
        [0.9, 0.8, 0.7, 0.6, 0.2],
        [0, 0, 1, 1, 0],
    )]
    fs = f_score(dets, truth, 2, threshold=0.5)
    assert (fs.tp, fs.fp, fs.fn) == (2, 2, 1)  # the 0.2 detection is below the threshold
    assert fs.precision == pytest.approx(0.5)
    assert fs.recall == pytest.approx(2 / 3)
    assert fs.f_score == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert fs.per_class[0] == (1, 1, 1)
    assert fs.per_class[1] == (1, 1, 0)
    fs_all = f_score(dets, truth, 2, threshold=0.0)
    assert (fs_all.tp, fs_all.fp, fs_all.fn) == (2, 3, 1)


def test_f_score_iou_threshold_is_strict_above_033():
    truth = [gt([[0, 0, 10, 10]], [0])]
    # IoU 0.3: [0,0,10,10] vs [0,0,3,10] -> 30/100; IoU 0.4 -> 40/100
    assert f_score([det([[0, 0, 3, 10]], [0.9], [0])], truth, 1, threshold=0.5).tp == 0
    assert f_score([det([[0, 0, 4, 10]], [0.9], [0])], truth, 1, threshold=0.5).tp == 1
    # exactly 1/3 > 0.33 counts
    assert f_score([det([[5, 0, 15, 10]], [0.9], [0])], truth, 1, threshold=0.5).tp == 1


def test_average_precision_all_point_hand_computed():
    # one class, two truths; detections TP (0.9), FP (0.8), TP (0.7):
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope area 0.5 * 1 + 0.5 * 2/3
    truth = [gt([[0, 0, 10, 10]], [0]), gt([[0, 0, 10, 10]], [0])]
    dets = [det([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 0]), det([[0, 0, 10, 10]], [0.7], [0])]
    assert mean_average_precision(dets, truth, 1) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)


def test_map_averages_classes_with_truth_and_ignores_the_rest():
    truth = [gt([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    # class 0 found (AP 1), class 1 missed (AP 0), class 2 has no truth (ignored though it has a FP)
    dets = [det([[0, 0, 10, 10], [60, 60, 70, 70]], [0.9, 0.9], [0, 2])]
    assert mean_average_precision(dets, truth, 3) == pytest.approx(0.5)
    # a box at IoU 0.4 is a TP for the F protocol (> 0.33) but not for mAP50 (>= 0.5)
    dets = [det([[0, 0, 4, 10], [20, 20, 30, 30]], [0.9, 0.9], [0, 1])]
    assert mean_average_precision(dets, truth, 2) == pytest.approx(0.5)
    assert f_score(dets, truth, 2, threshold=0.5).f_score == pytest.approx(1.0)


def test_confusion_matrix_rows_true_cols_predicted():
    truth = [gt([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [0, 1, 1])]
    dets = [det([[0, 0, 10, 10], [20, 20, 30, 30], [80, 80, 90, 90]], [0.9, 0.9, 0.9], [0, 0, 1])]
    cm = confusion_matrix(dets, truth, 2, threshold=0.5)
    expected = np.array([
        [1, 0, 0],  # class 0 truth: detected as 0
        [1, 0, 1],  # class 1 truths: one called class 0, one missed
        [0, 1, 0],  # a false alarm of class 1
    ])
    np.testing.assert_array_equal(cm, expected)


def test_best_threshold_picks_the_f_maximising_score():
    truth = [gt([[0, 0, 10, 10]], [0])]
    dets = [det([[0, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.3], [0, 0])]
    thr, fs = best_threshold(dets, truth, 1)
    assert 0.3 < thr <= 0.8 and fs.f_score == pytest.approx(1.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="rows"):
        ImageDetections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="detection sets"):
        f_score([], [gt([], [])], 1, threshold=0.5)


def test_decode_maps_top_peaks_to_xyxy():
    heat = np.zeros((2, 4, 5), np.float32)
    heat[1, 2, 3] = 0.9
    heat[0, 0, 0] = 0.4
    box = np.zeros((4, 4, 5), np.float32)
    box[:, 2, 3] = [14.0, 10.0, 8.0, 6.0]
    box[:, 0, 0] = [2.0, 2.0, 4.0, 4.0]
    d = decode_maps(heat, box, min_score=0.1, max_det=1)
    np.testing.assert_allclose(d.boxes, [[10, 7, 18, 13]])
    assert d.labels.tolist() == [1] and d.scores.tolist() == pytest.approx([0.9])
    assert len(decode_maps(heat, box, min_score=0.1).scores) == 2
    with pytest.raises(ValueError, match="expected"):
        decode_maps(heat, box[:3])
