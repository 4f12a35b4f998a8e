"""Benchmark of the anomaly stage on DeepPCB (template = golden, test = unit) and on speed.

    .venv/bin/python scripts/bench_anomaly.py                 # seeded subset of 200 pairs
    .venv/bin/python scripts/bench_anomaly.py --pairs 0       # all pairs
    .venv/bin/python scripts/bench_anomaly.py --align ecc     # the former ECC pre-alignment
    .venv/bin/python scripts/bench_anomaly.py --speed-only
    .venv/bin/python scripts/bench_anomaly.py --api --pairs 100 --no-speed   # as a user calls it (issue 13)

``--api`` runs each pair exactly as a user would: ``gv.seal([template], spec)`` with
``registration: none`` (the pairs are pre-aligned scans; nothing for registration to find
that the anomaly stage's residual checks do not: a global shift, and without registration a
small scale / shear / rotation, ``AnomalyModel.residual_affine``) and one ``full`` zone whose only
setting is the buyer's smallest defect area, then ``gv.inspect(test, golden)``; the boxes are
``result.defects`` as they come and the map is ``result.anomaly_map`` (see ``api_spec``).
Pixel AUROC is taken on a 5 % pixel sample per pair with every pixel of a ground-truth box a
positive: the annotated box frames a defect with its context (a gap in a trace and the trace
around it), so a map peaked on the changed pixels alone scores the rest of the box like the
board. The library's map is spread over the extent of a smallest defect
(``goldenvision.anomaly.regions.support_map``) for that reason, on every product.
The rest of this docstring describes the older stage-level protocol (the default without
``--api``), which calls ``AnomalyModel`` directly and grows the boxes.
    .venv/bin/python scripts/bench_anomaly.py --api --first 0 --pairs 100 --no-speed --errors /tmp/x.json

``--errors [FILE]`` (with ``--api``) lists, per pair, each missed ground-truth box (its DeepPCB
class from the annotation's 5th column, its size) and each false box with a cause, then totals
per cause (``classify_errors``); the evidence map before the spread and the regions the
``min_area_mm2`` rule dropped are read by wrapping the model's ``find_defects`` for the run.
    .venv/bin/python scripts/bench_anomaly.py --speed-only --no-speed --large   # 12 MP, a 0.5 mm defect

Nothing is trained on defects: each pair's model is fitted on its template alone (the model
adds sub-pixel shifted pseudo-captures when fewer than three captures exist) and calibrated
by leave-one-out on those.

Alignment (``--align``). DeepPCB pairs are "already aligned", but some are off by several px
(doubled edges in |test - template|). With ``lib`` (default) each test image goes through
goldenvision's own registration exactly as the pipeline does it: ``RegistrationModel.fit``
on the template, ``register(template, test, model=..., method="affine")`` and
``warp_to_reference`` -> (warped, valid). Affine is what the pipeline's ``registration: auto``
resolves to once a station profile rectifies both photos (``pipeline._registration_method``);
DeepPCB scans are rectified, so ``--reg-method`` defaults to it. A pair the library refuses
(``ok`` False) is *not* dropped and not silently re-aligned another way: it is counted and
printed with its reason, and scored with the unaligned test image (valid everywhere), so
the figures carry the cost of the refusal. ``ecc`` reproduces the former protocol (an
OpenCV ECC affine refinement written in this script); ``none`` scores the raw pairs. The
baseline always gets the same aligned image and valid mask as the model.

Figures printed:

* pixel AUROC of the raw anomaly map with the ground-truth boxes as positives;
* class-agnostic region precision / recall / F at IoU > 0.33 with one-to-one greedy matching
  by IoU (DeepPCB's protocol without the class check: the anomaly stage has no classes). The
  ground-truth boxes are read as given (x1, y1, x2, y2 of each line, no growing); DeepPCB's own
  script (from the ICDAR 2015 one) also matches one-to-one, taking the pairs in file order
  rather than by descending IoU; on pairs 0-55 and 100-218 the two orders and a maximum
  (Hungarian) matching gave the same true positives;
* the same for the plain baseline ``|test - template| > t`` + connected components;
* diagnostics: registration outcome (ok / refused with reasons, method, predicted rms, centre
  shift), region figures of the aligned and the refused pairs separately, and the number of
  predicted boxes lying in a 3-px band along the frame edge (warp border artefacts);
* the median time of ``score`` on a synthetic 2 MP (1600 x 1200) image, and the state size
  of a 50-unit model (variation + patchcore bank).

Box convention (``--min-box``). Our defect boxes are pixel-tight; DeepPCB's annotators draw
generous boxes around each defect. Over all 1000 trainval pairs (6873 boxes) the annotated
width x height is at least 20 x 19 px, 5th percentile 27 x 25, 25th 31 x 28, median 35 x 33
(shorter side: median 31 px). A tight box around a 6-px defect therefore cannot reach IoU
0.33 with its annotation, whatever the detector. The headline grows every predicted box
(both methods) to at least 32 px per side, centred: the size of a typical annotation
(between the 25th percentile and the median of the annotated sides), fixed from those
annotation statistics before looking at F, not tuned on F. A centred 32-px box still
reaches IoU > 0.33 with an annotation up to ~55 px (95th percentile 68 x 57), so it does not
open a loophole for big defects. To keep this transparent the run prints the box-size
percentiles of the evaluated pairs and the region P/R/F of both methods under several
conventions from the same predictions (matching only): raw boxes, grow-to-min 16/24/32/40
px and pad-by-margin 4/8/12 px on each side.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
import goldenvision.registration
from goldenvision.registration import RegistrationModel, register, warp_to_reference
from goldenvision.spec import AnomalyZone

#: ``shared/data/deeppcb-trainval`` beside the checkout, or beside any folder above it (a git worktree)
DATA = next((d / "shared" / "data" / "deeppcb-trainval" for d in Path(__file__).resolve().parents
             if (d / "shared" / "data" / "deeppcb-trainval").is_dir()),
            Path(__file__).resolve().parents[2] / "shared" / "data" / "deeppcb-trainval")
#: The registration module is under active development: the printout names the version measured.
REG_SHA1 = hashlib.sha1(Path(goldenvision.registration.__file__).read_bytes()).hexdigest()[:10]
ALIGN_MODES = ("lib", "ecc", "none")
#: Box conventions evaluated side by side: (label, kind, px); kind "grow" = grow to at least
#: px per side (centred), "pad" = add px on each side; ("grow", 0) = the raw boxes.
CONVENTIONS = (("raw", "grow", 0), ("grow>=16", "grow", 16), ("grow>=24", "grow", 24), ("grow>=32", "grow", 32),
               ("grow>=40", "grow", 40), ("pad+4", "pad", 4), ("pad+8", "pad", 8), ("pad+12", "pad", 12))


def read_pairs(root: Path) -> list[tuple[Path, Path, Path]]:
    out = []
    for line in (root / "trainval.txt").read_text().split("\n"):
        if not line.strip():
            continue
        img, ann = line.split()
        stem = root / img.replace(".jpg", "")
        out.append((Path(f"{stem}_temp.jpg"), Path(f"{stem}_test.jpg"), root / ann))
    return out


def read_boxes(path: Path) -> np.ndarray:
    rows = []
    for line in path.read_text().split("\n"):
        parts = line.replace(",", " ").split()
        if len(parts) >= 4:
            rows.append([float(v) for v in parts[:4]])
    return np.asarray(rows, np.float64).reshape(-1, 4)


def grow(boxes: np.ndarray, min_box: float) -> np.ndarray:
    """Boxes (N, 4) x1 y1 x2 y2 grown, centred, to at least ``min_box`` px per side."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    for i in (0, 1):
        c = (b[:, i] + b[:, i + 2]) / 2
        half = np.maximum((b[:, i + 2] - b[:, i]) / 2, min_box / 2)
        b[:, i], b[:, i + 2] = c - half, c + half
    return b


def pad(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Boxes (N, 4) x1 y1 x2 y2 with ``margin`` px added on each side."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    b[:, :2] -= margin
    b[:, 2:] += margin
    return b


def apply_convention(boxes: np.ndarray, kind: str, px: float) -> np.ndarray:
    if kind == "grow":
        return grow(boxes, px)
    if kind == "pad":
        return pad(boxes, px)
    raise ValueError(f"box convention kind: expected 'grow' or 'pad', got {kind!r}")


def box_size_percentiles(gts: list[np.ndarray], qs: tuple[float, ...] = (5, 25, 50)) -> dict[float, tuple[float, float]]:
    """Percentiles of the ground-truth box width and height (px): {q: (w, h)}."""
    b = np.concatenate([np.asarray(g, np.float64).reshape(-1, 4) for g in gts]) if gts else np.zeros((0, 4))
    if len(b) == 0:
        return {q: (float("nan"), float("nan")) for q in qs}
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return {q: (float(np.percentile(w, q)), float(np.percentile(h, q))) for q in qs}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def match_flags(pred: np.ndarray, gt: np.ndarray, thr: float = 0.33) -> np.ndarray:
    """Greedy one-to-one matching by descending IoU; (N_pred,) bool, True = matched."""
    m = iou_matrix(pred, gt)
    hit = np.zeros(len(pred), bool)
    while m.size and m.max() > thr:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        hit[i] = True
        m[i, :] = -1
        m[:, j] = -1
    return hit


def match(pred: np.ndarray, gt: np.ndarray, thr: float = 0.33) -> int:
    """Greedy one-to-one matching by descending IoU; returns true positives."""
    return int(match_flags(pred, gt, thr).sum())


def near_frame(boxes: np.ndarray, shape_hw: tuple[int, int], px: float) -> np.ndarray:
    """(N,) bool: box lies within ``px`` of the image border (entirely inside that band on one side)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = shape_hw
    return (b[:, 2] <= px) | (b[:, 3] <= px) | (b[:, 0] >= w - px) | (b[:, 1] >= h - px)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(scores)
    npos = labels.sum()
    nneg = labels.size - npos
    return float((r[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def align_ecc(temp: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The former protocol (``--align ecc``): OpenCV ECC affine refinement written here.

    Not the library's registration; kept so the earlier figures can be reproduced.
    Returns the warped test (uint8 RGB) and its valid mask.
    """
    a = cv2.GaussianBlur(cv2.cvtColor(temp, cv2.COLOR_RGB2GRAY), (0, 0), 2).astype(np.float32)
    b = cv2.GaussianBlur(cv2.cvtColor(test, cv2.COLOR_RGB2GRAY), (0, 0), 2).astype(np.float32)
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(a, b, warp, cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5), None, 5)
    except cv2.error:
        return test, np.ones(test.shape[:2], bool)
    h, w = temp.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(test, warp, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(np.ones((h, w), np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    return out, valid


def align_lib(temp: np.ndarray, test: np.ndarray, method: str):
    """goldenvision's registration as the pipeline runs it; (warped, valid, result).

    When the library refuses (``result.ok`` False) the unaligned test image is returned with
    an all-true valid mask; the caller counts the refusal.
    """
    model = RegistrationModel.fit(temp)
    r = register(temp, test, model=model, method=method)
    if not r.ok:
        return test, np.ones(test.shape[:2], bool), r
    warped, valid = warp_to_reference(test, r, temp.shape[:2])
    return warped, valid, r


def baseline_boxes(temp: np.ndarray, test: np.ndarray, t: int, min_area: int,
                   valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    d = cv2.absdiff(cv2.cvtColor(temp, cv2.COLOR_RGB2GRAY), cv2.cvtColor(test, cv2.COLOR_RGB2GRAY))
    if valid is not None:
        d[~valid] = 0  # outside the warped unit image there is no evidence (same mask as the model's)
    n, _, st, _ = cv2.connectedComponentsWithStats((d > t).astype(np.uint8), connectivity=8)
    b = [(x, y, x + w, y + h) for x, y, w, h, a in st[1:] if a >= min_area]
    return np.asarray(b, np.float64).reshape(-1, 4), d.astype(np.float32)


def prf(tp: int, npred: int, ngt: int) -> tuple[float, float, float]:
    p = tp / max(npred, 1)
    r = tp / max(ngt, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def region_scores(preds: list[np.ndarray], gts: list[np.ndarray], kind: str, px: float) -> tuple[int, int, int]:
    """(tp, n_pred, n_gt) summed over pairs with the predicted boxes under one convention."""
    tp = sum(match(apply_convention(p, kind, px), g) for p, g in zip(preds, gts))
    return tp, sum(len(p) for p in preds), sum(len(g) for g in gts)


DEEPPCB_CLASSES = {1: "open", 2: "short", 3: "mousebite", 4: "spur", 5: "copper", 6: "pin-hole"}
#: Causes, in the order they are tested (the first that applies is reported).
MISS_CAUSES = ("faint (below threshold)", "dropped by area rule", "merged with another", "split",
               "box size mismatch (IoU too low)", "other")
FALSE_CAUSES = ("frame edge", "merged with another", "split", "box size mismatch (IoU too low)",
                "registration residual / shifted copper", "unexplained change")


def read_classes(path: Path) -> list[int]:
    """The 5th column (DeepPCB class) of each box line; 0 when absent."""
    out = []
    for line in path.read_text().split("\n"):
        parts = line.replace(",", " ").split()
        if len(parts) >= 4:
            out.append(int(float(parts[4])) if len(parts) >= 5 else 0)
    return out


def match_pairs(pred: np.ndarray, gt: np.ndarray, thr: float = 0.33) -> dict[int, int]:
    """Greedy one-to-one matching by descending IoU (as ``match_flags``): {pred index: gt index}."""
    m = iou_matrix(pred, gt)
    out: dict[int, int] = {}
    while m.size and m.max() > thr:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        out[int(i)] = int(j)
        m[i, :] = -1
        m[:, j] = -1
    return out


class CaptureRegions:
    """Bench instrumentation for ``--errors``: wraps the anomaly model's ``find_defects`` so each
    call's evidence map is kept, and the regions the same call gives without the zone's
    ``min_area_mm2`` rule (what the area rule dropped). Nothing the user sees is changed."""

    def __init__(self) -> None:
        import goldenvision.anomaly.model as am

        self._mod = am
        self._orig = am.find_defects
        self.calls: list[tuple[np.ndarray, np.ndarray, list]] = []

    def __enter__(self) -> "CaptureRegions":
        orig = self._orig

        def wrapped(norm_map, zone_mask, zone, **kw):
            out = orig(norm_map, zone_mask, zone, **kw)
            no_area = orig(norm_map, zone_mask, zone.model_copy(update={"min_area_mm2": 0.0}), **kw)
            self.calls.append((norm_map.copy(), zone_mask.copy(), no_area))
            return out

        self._mod.find_defects = wrapped
        return self

    def __exit__(self, *exc: object) -> None:
        self._mod.find_defects = self._orig

    def evidence(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(max of the zones' evidence maps, boxes found without the area rule)."""
        ev = np.zeros(shape, np.float32)
        boxes = []
        for norm, mask, no_area in self.calls:
            np.maximum(ev, np.where(mask, norm, 0), out=ev)
            boxes += [d.bbox for d in no_area]
        return ev, np.asarray(boxes, np.float64).reshape(-1, 4)


def shift_explained(temp: np.ndarray, test: np.ndarray, box: np.ndarray, max_shift: int = 3) -> bool:
    """True when the grey difference inside ``box`` mostly (>= 60 %) disappears once the test is
    shifted by at most ``max_shift`` px: the box shows content that moved, not content that changed."""
    a = cv2.cvtColor(temp, cv2.COLOR_RGB2GRAY).astype(np.float32)
    b = cv2.cvtColor(test, cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = a.shape
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, y1 = max(x1, max_shift), max(y1, max_shift)
    x2, y2 = min(x2, w - max_shift), min(y2, h - max_shift)
    if x2 <= x1 or y2 <= y1:
        return False
    ref = a[y1:y2, x1:x2]
    d0 = float(np.abs(b[y1:y2, x1:x2] - ref).sum())
    if d0 <= 0:
        return False
    best = min(float(np.abs(b[y1 + dy:y2 + dy, x1 + dx:x2 + dx] - ref).sum())
               for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1))
    return best <= 0.4 * d0


def classify_errors(pred: np.ndarray, gt: np.ndarray, classes: list[int], evidence: np.ndarray,
                    no_area: np.ndarray, temp: np.ndarray, test: np.ndarray, edge_px: int = 3) -> dict:
    """Each missed ground-truth box and each false box of one pair with its cause.

    Misses: ``faint`` when the evidence (the zones' maps before the spread, 1.0 = threshold)
    stays below 1.0 inside the box; ``dropped by area rule`` when it reaches 1.0 but no reported
    box overlaps it and a region found without ``min_area_mm2`` does; ``merged`` when an
    overlapping reported box also overlaps another ground-truth box; ``split`` when two or more
    reported boxes overlap it; otherwise ``box size mismatch``. False boxes: ``frame edge`` when
    the box touches the frame (within ``edge_px``); then merged / split / size mismatch when it
    overlaps a ground-truth box; else ``shifted copper`` when a shift of at most 3 px explains
    the difference inside it (:func:`shift_explained`), else ``unexplained change``."""
    h, w = evidence.shape
    pairs = match_pairs(pred, gt)
    matched_gt = set(pairs.values())
    ov = iou_matrix(pred, gt) > 0  # (n_pred, n_gt) any overlap
    ov_na = iou_matrix(no_area, gt) > 0
    misses, falses = [], []
    for j in range(len(gt)):
        if j in matched_gt:
            continue
        x1, y1, x2, y2 = (int(v) for v in gt[j])
        peak = float(evidence[max(y1, 0):y2, max(x1, 0):x2].max(initial=0.0))
        over = np.nonzero(ov[:, j])[0]
        if peak < 1.0:
            cause = MISS_CAUSES[0]
        elif len(over) == 0:
            cause = MISS_CAUSES[1] if ov_na[:, j].any() else MISS_CAUSES[5]
        elif any(ov[i].sum() >= 2 for i in over):
            cause = MISS_CAUSES[2]
        elif len(over) >= 2:
            cause = MISS_CAUSES[3]
        else:
            cause = MISS_CAUSES[4]
        best = float(iou_matrix(gt[j : j + 1], pred).max(initial=0.0))
        misses.append({"box": [x1, y1, x2, y2], "class": DEEPPCB_CLASSES.get(classes[j], str(classes[j])),
                       "size": [x2 - x1, y2 - y1], "peak": round(peak, 3), "best_iou": round(best, 3),
                       "cause": cause})
    for i in range(len(pred)):
        if i in pairs:
            continue
        x1, y1, x2, y2 = (int(v) for v in pred[i])
        over = np.nonzero(ov[i])[0]
        if x1 <= edge_px or y1 <= edge_px or x2 >= w - edge_px or y2 >= h - edge_px:
            cause = FALSE_CAUSES[0]
        elif len(over) >= 2:
            cause = FALSE_CAUSES[1]
        elif len(over) == 1 and ov[:, over[0]].sum() >= 2:
            cause = FALSE_CAUSES[2]
        elif len(over) == 1:
            cause = FALSE_CAUSES[3]
        elif shift_explained(temp, test, pred[i]):
            cause = FALSE_CAUSES[4]
        else:
            cause = FALSE_CAUSES[5]
        falses.append({"box": [x1, y1, x2, y2], "size": [x2 - x1, y2 - y1], "cause": cause})
    return {"misses": misses, "falses": falses}


def print_errors(per_pair: list[dict]) -> None:
    miss_tot: Counter[str] = Counter()
    false_tot: Counter[str] = Counter()
    miss_cls: Counter[tuple[str, str]] = Counter()
    lines = []
    for rec in per_pair:
        if not rec["misses"] and not rec["falses"]:
            continue
        lines.append(f"  {rec['pair']}:")
        for m in rec["misses"]:
            miss_tot[m["cause"]] += 1
            miss_cls[(m["class"], m["cause"])] += 1
            lines.append(f"    missed {m['class']:9s} {m['size'][0]:3d}x{m['size'][1]:<3d} at {tuple(m['box'])}: "
                         f"{m['cause']} (peak {m['peak']:.2f}, best IoU {m['best_iou']:.2f})")
        for fb in rec["falses"]:
            false_tot[fb["cause"]] += 1
            lines.append(f"    false {fb['size'][0]:3d}x{fb['size'][1]:<3d} at {tuple(fb['box'])}: {fb['cause']}")
    print("errors per pair (missed ground-truth boxes with their class, false boxes):")
    print("\n".join(lines) if lines else "  none")
    print(f"missed boxes by cause ({sum(miss_tot.values())}): " +
          ", ".join(f"{c} {miss_tot[c]}" for c in MISS_CAUSES if miss_tot[c]))
    by_cls: dict[str, Counter[str]] = {}
    for (cls, cause), n in miss_cls.items():
        by_cls.setdefault(cls, Counter())[cause] += n
    for cls, cnt in sorted(by_cls.items()):
        print(f"  {cls}: " + ", ".join(f"{c} {cnt[c]}" for c in MISS_CAUSES if cnt[c]))
    print(f"false boxes by cause ({sum(false_tot.values())}): " +
          ", ".join(f"{c} {false_tot[c]}" for c in FALSE_CAUSES if false_tot[c]))


def bench_deeppcb(args: argparse.Namespace) -> None:
    pairs = read_pairs(DATA)
    if args.pairs and args.pairs < len(pairs):
        idx = np.random.default_rng(args.seed).choice(len(pairs), args.pairs, replace=False)
        pairs = [pairs[i] for i in sorted(idx)]
    zone = AnomalyZone(name="board", region="full", defect_type="print", min_area_mm2=args.min_area_mm2)
    # Binarised scans with JPEG ringing at every edge: a deviation must reach 6 spread units
    # (library default 3) and pieces within 3 px are one region.
    cfg = AnomalyConfig(var_floor=args.var_floor, merge_px=args.merge_px)
    preds: dict[str, list[np.ndarray]] = {"model": [], "base": []}
    gts: list[np.ndarray] = []
    shapes: list[tuple[int, int]] = []
    pos_m, neg_m, pos_b, neg_b = [], [], [], []
    rng = np.random.default_rng(1)
    t_fit, t_score, t_reg = [], [], []
    refused: list[tuple[str, str]] = []
    reg_methods: Counter[str] = Counter()
    reg_rms, reg_shift = [], []
    for temp_p, test_p, ann_p in pairs:
        temp = cv2.cvtColor(cv2.imread(str(temp_p)), cv2.COLOR_BGR2RGB)
        test = cv2.cvtColor(cv2.imread(str(test_p)), cv2.COLOR_BGR2RGB)
        gt = read_boxes(ann_p)
        valid = np.ones(test.shape[:2], bool)
        if args.align == "ecc":
            test, valid = align_ecc(temp, test)
        elif args.align == "lib":
            t0 = time.perf_counter()
            test, valid, reg = align_lib(temp, test, args.reg_method)
            t_reg.append(time.perf_counter() - t0)
            if reg.ok:
                reg_methods[reg.method] += 1
                reg_rms.append(reg.rms_px)
                c = np.array([test.shape[1] / 2, test.shape[0] / 2, 1.0])
                m = reg.homography @ c
                reg_shift.append(float(np.hypot(*(m[:2] / m[2] - c[:2]))))
            else:
                refused.append((test_p.name, str(reg.reason)))
        t0 = time.perf_counter()
        model = AnomalyModel.fit([temp], [zone], scale_mm_per_px=1 / 48.0, config=cfg)
        t1 = time.perf_counter()
        res = model.score(test, valid)
        t2 = time.perf_counter()
        t_fit.append(t1 - t0)
        t_score.append(t2 - t1)
        preds["model"].append(np.asarray([d.bbox for d in res.defects], np.float64).reshape(-1, 4))
        bpred, dmap = baseline_boxes(temp, test, args.base_t, args.base_min_area, valid)
        preds["base"].append(bpred)
        gts.append(gt)
        shapes.append(test.shape[:2])
        lab = np.zeros(test.shape[:2], bool)
        for x1, y1, x2, y2 in gt.astype(int):
            lab[y1:y2, x1:x2] = True
        samp = rng.random(lab.shape) < 0.05  # 5 % pixel sample per image keeps memory small
        pos_m.append(res.map[lab & samp])
        neg_m.append(res.map[~lab & samp])
        pos_b.append(dmap[lab & samp])
        neg_b.append(dmap[~lab & samp])

    n_gt = sum(len(g) for g in gts)
    print(f"DeepPCB trainval: {len(pairs)} pairs (seed {args.seed}), {n_gt} ground-truth boxes; "
          f"IoU > 0.33, one-to-one greedy; headline boxes grown to >= {args.min_box} px")
    if args.align == "lib":
        n_ok = len(pairs) - len(refused)
        print(f"alignment: goldenvision registration, register(method={args.reg_method!r}) + warp_to_reference; "
              f"ok {n_ok}/{len(pairs)} ({dict(reg_methods)}), median {1000 * statistics.median(t_reg):.0f} ms/pair "
              f"(fit + register + warp); registration.py sha1 {REG_SHA1}")
        if reg_rms:
            print(f"  ok pairs: predicted corner rms median {statistics.median(reg_rms):.3f} px, max {max(reg_rms):.3f} px; "
                  f"centre shift median {statistics.median(reg_shift):.2f} px, max {max(reg_shift):.2f} px")
        print(f"  refused {len(refused)}/{len(pairs)}: scored with the UNALIGNED test image (valid everywhere), not dropped")
        for name, why in refused:
            print(f"    {name}: {why}")
    elif args.align == "ecc":
        print("alignment: ECC affine refinement written in this script (former protocol, not the library's registration)")
    else:
        print("alignment: none (raw DeepPCB pairs)")
    pc = box_size_percentiles(gts)
    print("ground-truth box size (px, w x h) over these pairs: " +
          ", ".join(f"p{q:g} {w:.0f} x {h:.0f}" for q, (w, h) in pc.items()))

    names = {"model": "goldenvision variation", "base": f"baseline |diff|>{args.base_t}"}
    for key, (pm, nm) in {"model": (pos_m, neg_m), "base": (pos_b, neg_b)}.items():
        s = np.concatenate(pm + nm)
        lab = np.concatenate([np.ones(sum(len(x) for x in pm), bool), np.zeros(sum(len(x) for x in nm), bool)])
        tp, npred, _ = region_scores(preds[key], gts, "grow", args.min_box)
        p, r, f = prf(tp, npred, n_gt)
        f_raw = prf(*region_scores(preds[key], gts, "grow", 0))[2]
        print(f"  {names[key]:28s} pixel AUROC {auroc(s, lab):.4f}  regions P {p:.3f} R {r:.3f} F {f:.3f} "
              f"(pred {npred}, tp {tp}; F with raw boxes {f_raw:.3f})")
    print("  region P / R / F by box convention (same predictions, predicted boxes only are changed):")
    print(f"    {'convention':10s}  {names['model']:^27s}  {names['base']:^27s}")
    for label, kind, px in CONVENTIONS:
        cells = []
        for key in ("model", "base"):
            p, r, f = prf(*region_scores(preds[key], gts, kind, px))
            cells.append(f"P {p:.3f} R {r:.3f} F {f:.3f}")
        print(f"    {label:10s}  {cells[0]:27s}  {cells[1]:27s}")
    # Border strips: a sub-pixel warp interpolates the outermost rows/columns against the
    # black border that warp_to_reference's valid mask still counts as covered.
    edge = {}
    for key in ("model", "base"):
        n_e = n_fp = 0
        for pb, g, shp in zip(preds[key], gts, shapes):
            hit = match_flags(grow(pb, args.min_box), g)
            e = near_frame(pb, shp, 3)
            n_e += int(e.sum())
            n_fp += int((e & ~hit).sum())
        edge[key] = (n_e, n_fp)
    print(f"  predicted boxes lying within 3 px of the frame edge: model {edge['model'][0]} ({edge['model'][1]} unmatched), "
          f"baseline {edge['base'][0]} ({edge['base'][1]} unmatched)")
    if refused:
        bad = {name for name, _ in refused}
        sel = [p[1].name in bad for p in pairs]
        for label, want in (("aligned pairs", False), ("refused pairs (unaligned)", True)):
            cells = []
            for key in ("model", "base"):
                pk = [x for x, s_ in zip(preds[key], sel) if s_ == want]
                gk = [x for x, s_ in zip(gts, sel) if s_ == want]
                tp, npred, ng = region_scores(pk, gk, "grow", args.min_box)
                p, r, f = prf(tp, npred, ng)
                cells.append(f"P {p:.3f} R {r:.3f} F {f:.3f} (pred {npred}, tp {tp}, gt {ng})")
            print(f"  {label} only, grow>={args.min_box}: model {cells[0]}; baseline {cells[1]}")
    print(f"  fit median {1000 * statistics.median(t_fit):.1f} ms, score median {1000 * statistics.median(t_score):.1f} ms (640x640)")


def api_spec(args: argparse.Namespace) -> dict:
    """The spec a user writes for a DeepPCB pair: pre-aligned scans, so ``registration: none``
    (ARCHITECTURE.md: images compared in the golden frame), 48 px/mm, one ``full`` zone whose
    only setting is the buyer's sensitivity: the smallest defect area (``--api-min-area-mm2``,
    0.05 mm² by default = about 11 x 11 px, the order of DeepPCB's 10th-percentile defect
    extent of 12 x 9 px measured as |test - template| > 128 inside the boxes). No other
    library setting is changed.

    That extent is not an area: the changed pixels inside the boxes of pairs 0-99 number
    44 / 55 / 80 / 119 px at the 5th / 10th / 25th / 50th percentile, so about a quarter of
    the annotated defects are smaller than 0.05 mm² (115 px) and missing them is what the
    spec asks. Asking instead for the 5th percentile, 0.02 mm², made region F worse on every
    4th pair of 0-99 (0.925 -> 0.827: P 0.96 -> 0.80, R 0.89 -> 0.86; the evidence is then
    averaged over a 7 px defect instead of 11 px and JPEG ringing along traces reaches it)."""
    zone = {"name": "board", "region": "full", "min_area_mm2": args.api_min_area_mm2}
    if args.api_method != "auto":
        zone["method"] = args.api_method
    return {"product": "deeppcb", "scale_mm_per_px": 1 / 48.0, "registration": args.api_registration,
            "anomaly_zones": [zone]}


def bench_deeppcb_api(args: argparse.Namespace) -> None:
    """DeepPCB exactly as a user calls the library: ``gv.seal([template], spec)`` then
    ``gv.inspect(test, golden)``; boxes are ``result.defects`` as they come (no growing),
    the map is ``result.anomaly_map``. Region F at IoU > 0.33 against the raw boxes."""
    import goldenvision as gv

    pairs = read_pairs(DATA)
    if args.first is not None:  # a contiguous range of trainval.txt (development / held-out split)
        pairs = pairs[args.first : args.first + (args.pairs or len(pairs))]
    elif args.pairs and args.pairs < len(pairs):
        idx = np.random.default_rng(args.seed).choice(len(pairs), args.pairs, replace=False)
        pairs = [pairs[i] for i in sorted(idx)]
    spec = api_spec(args)
    preds, gts, pos, neg = [], [], [], []
    rng = np.random.default_rng(1)
    t_seal, t_insp = [], []
    errors: list[dict] = []
    for temp_p, test_p, ann_p in pairs:
        t0 = time.perf_counter()
        golden = gv.seal([str(temp_p)], spec)
        t1 = time.perf_counter()
        if args.errors is None:
            res = gv.inspect(str(test_p), golden)
        else:
            with CaptureRegions() as cap:
                res = gv.inspect(str(test_p), golden)
        t2 = time.perf_counter()
        t_seal.append(t1 - t0)
        t_insp.append(t2 - t1)
        gt = read_boxes(ann_p)
        preds.append(np.asarray([d.bbox for d in res.defects], np.float64).reshape(-1, 4))
        gts.append(gt)
        if args.errors is not None:
            ev, no_area = cap.evidence(res.anomaly_map.shape)
            temp = cv2.cvtColor(cv2.imread(str(temp_p)), cv2.COLOR_BGR2RGB)
            test = cv2.cvtColor(cv2.imread(str(test_p)), cv2.COLOR_BGR2RGB)
            rec = classify_errors(preds[-1], gt, read_classes(ann_p), ev, no_area, temp, test)
            errors.append({"pair": test_p.name, **rec})
        amap = res.anomaly_map
        lab = np.zeros(amap.shape, bool)
        for x1, y1, x2, y2 in gt.astype(int):
            lab[y1:y2, x1:x2] = True
        samp = rng.random(lab.shape) < 0.05
        pos.append(amap[lab & samp])
        neg.append(amap[~lab & samp])
    n_gt = sum(len(g) for g in gts)
    s = np.concatenate(pos + neg)
    lab = np.concatenate([np.ones(sum(len(x) for x in pos), bool), np.zeros(sum(len(x) for x in neg), bool)])
    tp, npred, _ = region_scores(preds, gts, "grow", 0)
    p, r, f = prf(tp, npred, n_gt)
    which = f"trainval.txt lines {args.first}-{args.first + len(pairs) - 1}" if args.first is not None else f"seed {args.seed}"
    print(f"DeepPCB through the public API: {len(pairs)} pairs ({which}), {n_gt} boxes; spec {spec}")
    print(f"  gv.seal + gv.inspect: pixel AUROC {auroc(s, lab):.4f}  regions (raw boxes, IoU > 0.33) "
          f"P {p:.3f} R {r:.3f} F {f:.3f} (pred {npred}, tp {tp})")
    for label, kind, px in CONVENTIONS[1:4]:
        p2, r2, f2 = prf(*region_scores(preds, gts, kind, px))
        print(f"    for reference, {label}: P {p2:.3f} R {r2:.3f} F {f2:.3f}")
    print(f"  seal median {1000 * statistics.median(t_seal):.0f} ms, inspect median {1000 * statistics.median(t_insp):.0f} ms")
    if args.errors is not None:
        print_errors(errors)
        if args.errors:
            import json

            Path(args.errors).write_text(json.dumps(errors, indent=1))
            print(f"errors written to {args.errors}")


def synthetic_board(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (200, 190, 165), np.uint8)
    for _ in range(h * w // 4000):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 12))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(6, 40)), y + int(rng.integers(2, 12))),
                      tuple(int(v) for v in rng.integers(0, 160, 3)), -1)
    return img


def bench_speed(args: argparse.Namespace) -> None:
    h, w = 1200, 1600
    g = synthetic_board(h, w, 0)
    rng = np.random.default_rng(0)
    caps = [np.clip(g + rng.normal(0, 2, g.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    unit = caps[0].copy()
    cv2.line(unit, (100, 100), (300, 180), (90, 90, 90), 3)
    zones = [AnomalyZone(name="board", region="full", defect_type="print")]
    t0 = time.perf_counter()
    model = AnomalyModel.fit(caps, zones, scale_mm_per_px=0.125)
    print(f"2 MP variation fit on 6 captures: {time.perf_counter() - t0:.2f} s")
    ts = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        r = model.score(unit)
        ts.append(time.perf_counter() - t0)
    print(f"2 MP (1600x1200) variation score: median {1000 * statistics.median(ts):.1f} ms over {len(ts)} "
          f"(min {1000 * min(ts):.1f}); defects {len(r.defects)}; state {model.state_nbytes() / 1e6:.1f} MB")
    zones_pc = [AnomalyZone(name="board", region="full", defect_type="print", method="patchcore")]
    t0 = time.perf_counter()
    mpc = AnomalyModel.fit(caps[:4], zones_pc, scale_mm_per_px=0.125)
    print(f"2 MP patchcore fit on 4 captures (feature_scale {mpc.config.feature_scale}): {time.perf_counter() - t0:.2f} s")
    ts = []
    for _ in range(max(3, args.repeats // 3)):
        t0 = time.perf_counter()
        r = mpc.score(unit)
        ts.append(time.perf_counter() - t0)
    print(f"2 MP patchcore score: median {1000 * statistics.median(ts):.1f} ms; defects {len(r.defects)}")
    goods = [np.clip(g * rng.uniform(0.85, 1.15) + rng.normal(0, 2, g.shape), 0, 255).astype(np.uint8) for _ in range(10)]
    t0 = time.perf_counter()
    for _ in range(5):  # 50 accepted units, 10 distinct images added five times
        mpc.add_good(goods)
    print(f"add_good 50 units: {time.perf_counter() - t0:.1f} s; state of the 54-image model "
          f"{mpc.state_nbytes() / 1e6:.1f} MB (pc_bank {mpc.pc_bank_.shape} float16)")
    live = sum(v.nbytes for v in vars(mpc).values() if isinstance(v, np.ndarray))
    print(f"  in-memory arrays of that model (float32 working copies + bank): {live / 1e6:.1f} MB")
    r = mpc.score(caps[1])
    print(f"  after 50 units: good capture score {r.score:.3f}, defect unit score {mpc.score(unit).score:.3f}")


def bench_large(args: argparse.Namespace) -> None:
    """A 12 MP (4000 x 3000) board at 0.05 mm/px with a 0.5 mm defect (a dark spot of 10 px):
    found, where, how fast, for the pixel variation model and the tiled feature path."""
    h, w, mm_per_px = 3000, 4000, 0.05
    g = synthetic_board(h, w, 7)
    rng = np.random.default_rng(7)
    caps = [np.clip(g + rng.normal(0, 2, g.shape), 0, 255).astype(np.uint8) for _ in range(3)]
    unit = np.clip(g + rng.normal(0, 2, g.shape), 0, 255).astype(np.uint8)
    fresh_good = np.clip(g + rng.normal(0, 2, g.shape), 0, 255).astype(np.uint8)  # not a training capture
    cx, cy = 2611, 1733
    d_px = round(0.5 / mm_per_px)
    cv2.circle(unit, (cx, cy), d_px // 2, (40, 40, 40), -1, cv2.LINE_AA)
    print(f"\n12 MP board ({w} x {h}, {mm_per_px} mm/px), one {0.5} mm dark spot ({d_px} px) at ({cx}, {cy}); "
          "3 golden captures")
    for method in ("variation", "patchcore"):
        zones = [AnomalyZone(name="board", region="full", defect_type="print", method=method)]
        t0 = time.perf_counter()
        model = AnomalyModel.fit(caps, zones, scale_mm_per_px=mm_per_px)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = model.score(unit)
        t_score = time.perf_counter() - t0
        hit = [d for d in r.defects if d.bbox[0] - 8 <= cx <= d.bbox[2] + 8 and d.bbox[1] - 8 <= cy <= d.bbox[3] + 8]
        r_good = model.score(fresh_good)
        print(f"  {method:10s} fit {t_fit:.1f} s, score {1000 * t_score:.0f} ms; defect found {bool(hit)} "
              f"({len(r.defects)} regions, score {r.score:.2f}"
              + (f", bbox {tuple(round(v) for v in hit[0].bbox)}, {hit[0].area_mm2 or 0:.3f} mm2" if hit else "")
              + f"); a fresh good unit: {len(r_good.defects)} regions, score {r_good.score:.2f}")


def main() -> None:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the deeppcb-trainval folder")
    ap.add_argument("--pairs", type=int, default=200, help="seeded subset size (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", type=int, default=None,
                    help="with --api: take --pairs consecutive pairs of trainval.txt from this line (0-based) "
                         "instead of a seeded subset (0 --pairs 100 = development, 100 --pairs 200 = held out)")
    ap.add_argument("--min-box", type=int, default=32,
                    help="headline: predicted boxes grown to at least this many px per side (see the docstring)")
    ap.add_argument("--min-area-mm2", type=float, default=0.004, help="about 9 px at 48 px/mm")
    ap.add_argument("--var-floor", type=float, default=6.0)
    ap.add_argument("--merge-px", type=int, default=3)
    ap.add_argument("--base-t", type=int, default=128)
    ap.add_argument("--base-min-area", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--align", type=lambda v: {"1": "ecc", "0": "none"}.get(v, v), choices=ALIGN_MODES, default="lib",
                    help="lib: goldenvision registration as the pipeline runs it (default); ecc: the former ECC "
                         "refinement written here; none: raw pairs (legacy 1/0 mean ecc/none)")
    ap.add_argument("--reg-method", choices=("affine", "auto", "homography"), default="affine",
                    help="register() method with --align lib (affine = what the pipeline uses on a rectified station)")
    ap.add_argument("--cv2-threads", type=int, default=-1,
                    help="cv2.setNumThreads before timing (-1 = leave OpenCV's default). OpenCV's pool "
                         "and onnxruntime's threads oversubscribe 2 cores: patchcore 88 ms with 1, ~800 ms with default")
    ap.add_argument("--api", action="store_true",
                    help="DeepPCB through gv.seal / gv.inspect as a user calls them, raw result.defects boxes")
    ap.add_argument("--api-registration", default="none", help="spec registration with --api")
    ap.add_argument("--api-min-area-mm2", type=float, default=0.05, help="zone min_area_mm2 with --api")
    ap.add_argument("--api-method", default="auto", help="anomaly zone method with --api (auto = library default)")
    ap.add_argument("--errors", nargs="?", const="", default=None, metavar="FILE",
                    help="with --api: list each missed ground-truth box (class, size) and each false box with "
                         "its cause, totals per cause; FILE = also write them as JSON")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--large", action="store_true", help="also the 12 MP tiling check")
    args = ap.parse_args()
    DATA = args.data
    if args.cv2_threads >= 0:
        cv2.setNumThreads(args.cv2_threads)
    print(f"OpenCV threads {cv2.getNumThreads()}")
    if not args.speed_only:
        if not DATA.is_dir():
            sys.exit(f"DeepPCB not found at {DATA}")
        if args.api:
            bench_deeppcb_api(args)
        else:
            bench_deeppcb(args)
    if not args.no_speed:
        bench_speed(args)
    if args.large:
        bench_large(args)


if __name__ == "__main__":
    main()
