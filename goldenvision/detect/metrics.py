"""Detection metrics over numpy arrays (no torch): mAP at IoU 0.5 and the DeepPCB F-score.

Boxes are ``(x1, y1, x2, y2)`` in image px (continuous coordinates, area ``(x2-x1)*(y2-y1)``).
Per image, ground truth is ``(boxes (G, 4), labels (G,))`` and detections are
``(boxes (K, 4), scores (K,), labels (K,))``; labels are class indices.

* ``map50``: the mean over classes that have ground truth of the all-point interpolated average
  precision (Everingham et al., "The PASCAL VOC Challenge", IJCV 2010,
  doi:10.1007/s11263-009-0275-4; the VOC2010+ area under the monotone PR envelope). A detection
  is a true positive when its IoU with a not yet matched ground-truth box of its class is
  >= 0.5, detections taken in falling score order over the whole set.
* ``f_score_iou033``: DeepPCB's protocol (Tang et al., "Online PCB Defect Detector on a New PCB
  Defect Dataset", arXiv:1902.06197): detections above the score threshold; a detection counts
  when its IoU with a ground-truth box of its class is > 0.33, one-to-one (each ground truth
  matches at most one detection, greedy in falling score order, the not yet matched ground
  truth of highest IoU). Precision, recall and F are pooled over all classes (micro average).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class ImageTruth:
    """Ground truth of one image: boxes (G, 4) float px xyxy, labels (G,) int class index."""

    boxes: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        b = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        lab = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if b.shape[0] != lab.shape[0]:
            raise ValueError(f"ImageTruth: boxes has {b.shape[0]} rows, labels {lab.shape[0]}")
        object.__setattr__(self, "boxes", b)
        object.__setattr__(self, "labels", lab)


@dataclass(frozen=True, slots=True)
class ImageDetections:
    """Detections of one image: boxes (K, 4) float px xyxy, scores (K,) in [0, 1], labels (K,) int."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        b = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        lab = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not b.shape[0] == s.shape[0] == lab.shape[0]:
            raise ValueError(f"ImageDetections: boxes {b.shape[0]}, scores {s.shape[0]}, labels {lab.shape[0]} rows differ")
        object.__setattr__(self, "boxes", b)
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "labels", lab)

    def above(self, threshold: float) -> ImageDetections:
        keep = self.scores >= threshold
        return ImageDetections(self.boxes[keep], self.scores[keep], self.labels[keep])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy px -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _match_image(
    det: ImageDetections, gt: ImageTruth, *, iou_min: float, strict: bool, same_class: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching in falling score order.

    Returns ``det_match`` (K,) index of the matched ground truth or -1, in the order of ``det``,
    and ``gt_matched`` (G,) bool.
    """
    k = det.boxes.shape[0]
    det_match = np.full(k, -1, dtype=np.int64)
    gt_matched = np.zeros(gt.boxes.shape[0], dtype=bool)
    if k == 0 or gt.boxes.shape[0] == 0:
        return det_match, gt_matched
    ious = iou_matrix(det.boxes, gt.boxes)
    if same_class:
        ious = np.where(det.labels[:, None] == gt.labels[None, :], ious, -1.0)
    for i in np.argsort(-det.scores, kind="stable"):
        cand = np.where(gt_matched, -1.0, ious[i])
        j = int(np.argmax(cand))
        ok = cand[j] > iou_min if strict else cand[j] >= iou_min
        if ok:
            det_match[i] = j
            gt_matched[j] = True
    return det_match, gt_matched


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP: area under the monotone envelope of the PR curve (VOC2010+)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


@dataclass(frozen=True, slots=True)
class PRCurve:
    """Precision and recall of one class as the score threshold falls through the detections."""

    scores: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    ap: float
    n_truth: int


def pr_curves(
    detections: Sequence[ImageDetections], truths: Sequence[ImageTruth], n_classes: int, *, iou_min: float = 0.5
) -> list[PRCurve]:
    """One PR curve per class (VOC matching at IoU >= ``iou_min``)."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} detection sets for {len(truths)} images")
    curves = []
    for c in range(n_classes):
        scores: list[float] = []
        tps: list[bool] = []
        n_truth = 0
        for det, gt in zip(detections, truths, strict=True):
            dc = ImageDetections(det.boxes[det.labels == c], det.scores[det.labels == c], det.labels[det.labels == c])
            gc = ImageTruth(gt.boxes[gt.labels == c], gt.labels[gt.labels == c])
            n_truth += gc.boxes.shape[0]
            m, _ = _match_image(dc, gc, iou_min=iou_min, strict=False)
            scores.extend(dc.scores.tolist())
            tps.extend((m >= 0).tolist())
        s = np.asarray(scores, dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        tp = np.asarray(tps, dtype=np.float64)[order]
        ctp = np.cumsum(tp)
        cfp = np.cumsum(1.0 - tp)
        recall = ctp / n_truth if n_truth else np.zeros_like(ctp)
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        ap = average_precision(recall, precision) if n_truth else float("nan")
        curves.append(PRCurve(s[order], precision, recall, ap, n_truth))
    return curves


def mean_average_precision(
    detections: Sequence[ImageDetections], truths: Sequence[ImageTruth], n_classes: int, *, iou_min: float = 0.5
) -> float:
    """mAP over the classes that have ground truth (``nan`` when none has)."""
    aps = [c.ap for c in pr_curves(detections, truths, n_classes, iou_min=iou_min) if c.n_truth > 0]
    return float(np.mean(aps)) if aps else float("nan")


@dataclass(frozen=True, slots=True)
class FScore:
    """Counts and scores of the one-to-one matching at one score threshold."""

    tp: int
    fp: int
    fn: int
    per_class: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # class -> (tp, fp, fn)

    @staticmethod
    def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    @property
    def precision(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[0]

    @property
    def recall(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[1]

    @property
    def f_score(self) -> float:
        return self._prf(self.tp, self.fp, self.fn)[2]

    def class_prf(self, c: int) -> tuple[float, float, float]:
        return self._prf(*self.per_class.get(c, (0, 0, 0)))


def f_score(
    detections: Sequence[ImageDetections],
    truths: Sequence[ImageTruth],
    n_classes: int,
    *,
    threshold: float,
    iou_min: float = 0.33,
) -> FScore:
    """DeepPCB F-score: detections with score >= ``threshold``, match when IoU > ``iou_min`` (strict)."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} detection sets for {len(truths)} images")
    per = {c: [0, 0, 0] for c in range(n_classes)}
    for det, gt in zip(detections, truths, strict=True):
        d = det.above(threshold)
        m, gm = _match_image(d, gt, iou_min=iou_min, strict=True)
        for lab, ok in zip(d.labels.tolist(), (m >= 0).tolist(), strict=True):
            per.setdefault(lab, [0, 0, 0])[0 if ok else 1] += 1
        for lab, ok in zip(gt.labels.tolist(), gm.tolist(), strict=True):
            if not ok:
                per.setdefault(lab, [0, 0, 0])[2] += 1
    tp = sum(v[0] for v in per.values())
    fp = sum(v[1] for v in per.values())
    fn = sum(v[2] for v in per.values())
    return FScore(tp, fp, fn, {c: (v[0], v[1], v[2]) for c, v in per.items()})


def best_threshold(
    detections: Sequence[ImageDetections], truths: Sequence[ImageTruth], n_classes: int, *, iou_min: float = 0.33
) -> tuple[float, FScore]:
    """The score threshold (on a 0.05 .. 0.95 grid, step 0.01) that maximises the F-score."""
    best: tuple[float, FScore] | None = None
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        fs = f_score(detections, truths, n_classes, threshold=float(t), iou_min=iou_min)
        if best is None or fs.f_score > best[1].f_score:
            best = (float(t), fs)
    assert best is not None
    return best


def confusion_matrix(
    detections: Sequence[ImageDetections],
    truths: Sequence[ImageTruth],
    n_classes: int,
    *,
    threshold: float,
    iou_min: float = 0.33,
) -> np.ndarray:
    """(C+1, C+1) counts: row = true class (last row: no ground truth, a false alarm), column =
    predicted class (last column: nothing detected, a miss). Detections above ``threshold`` are
    matched to ground truth of any class, one-to-one, IoU > ``iou_min``."""
    cm = np.zeros((n_classes + 1, n_classes + 1), dtype=np.int64)
    for det, gt in zip(detections, truths, strict=True):
        d = det.above(threshold)
        m, gm = _match_image(d, gt, iou_min=iou_min, strict=True, same_class=False)
        for i, j in enumerate(m.tolist()):
            if j >= 0:
                cm[gt.labels[j], d.labels[i]] += 1
            else:
                cm[n_classes, d.labels[i]] += 1
        for j, ok in enumerate(gm.tolist()):
            if not ok:
                cm[gt.labels[j], n_classes] += 1
    return cm
