"""Benchmark of the anomaly stage on DeepPCB (template = golden, test = unit) and on speed.

    .venv/bin/python scripts/bench_anomaly.py                 # seeded subset of 200 pairs
    .venv/bin/python scripts/bench_anomaly.py --pairs 0       # all pairs
    .venv/bin/python scripts/bench_anomaly.py --speed-only

Nothing is trained on defects: each pair's model is fitted on its template alone (the model
adds sub-pixel shifted pseudo-captures when fewer than three captures exist) and calibrated
by leave-one-out on those. Figures printed:

* pixel AUROC of the raw anomaly map with the ground-truth boxes as positives;
* class-agnostic region precision / recall / F at IoU > 0.33 with one-to-one greedy matching
  by IoU (DeepPCB's protocol without the class check: the anomaly stage has no classes).
  DeepPCB boxes are drawn generously around each defect (5th percentile 27 x 25 px, median
  35 x 33 px over all 6873 boxes), so a detected region's box is grown to at least
  ``--min-box`` px (centred, default 32) before matching, the same for both methods; the
  F with the raw boxes is printed too;
* the same for the plain baseline ``|test - template| > t`` + connected components;
* the median time of ``score`` on a synthetic 2 MP (1600 x 1200) image, and the state size
  of a 50-unit model (variation + patchcore bank).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.spec import AnomalyZone

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "deeppcb-trainval"


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


def grow(boxes: np.ndarray, min_box: int, shape: tuple[int, int]) -> np.ndarray:
    b = boxes.astype(np.float64).copy()
    for i in (0, 1):
        c = (b[:, i] + b[:, i + 2]) / 2
        half = np.maximum((b[:, i + 2] - b[:, i]) / 2, min_box / 2)
        b[:, i], b[:, i + 2] = c - half, c + half
    return b


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


def match(pred: np.ndarray, gt: np.ndarray, thr: float = 0.33) -> int:
    """Greedy one-to-one matching by descending IoU; returns true positives."""
    m = iou_matrix(pred, gt)
    tp = 0
    while m.size and m.max() > thr:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        tp += 1
        m[i, :] = -1
        m[:, j] = -1
    return tp


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(scores)
    npos = labels.sum()
    nneg = labels.size - npos
    return float((r[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def align(temp: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refine DeepPCB's "already aligned" pairs with ECC (affine), as registration would.

    Some pairs are off by several px (visible as doubled edges in |test - template|). The
    anomaly stage expects registered units, so both methods get this same alignment.
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


def baseline_boxes(temp: np.ndarray, test: np.ndarray, t: int, min_area: int) -> tuple[np.ndarray, np.ndarray]:
    d = cv2.absdiff(cv2.cvtColor(temp, cv2.COLOR_RGB2GRAY), cv2.cvtColor(test, cv2.COLOR_RGB2GRAY))
    n, _, st, _ = cv2.connectedComponentsWithStats((d > t).astype(np.uint8), connectivity=8)
    b = [(x, y, x + w, y + h) for x, y, w, h, a in st[1:] if a >= min_area]
    return np.asarray(b, np.float64).reshape(-1, 4), d.astype(np.float32)


def prf(tp: int, npred: int, ngt: int) -> tuple[float, float, float]:
    p = tp / max(npred, 1)
    r = tp / max(ngt, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def bench_deeppcb(args: argparse.Namespace) -> None:
    pairs = read_pairs(DATA)
    if args.pairs and args.pairs < len(pairs):
        idx = np.random.default_rng(args.seed).choice(len(pairs), args.pairs, replace=False)
        pairs = [pairs[i] for i in sorted(idx)]
    zone = AnomalyZone(name="board", region="full", defect_type="print", min_area_mm2=args.min_area_mm2)
    # Binarised scans with JPEG ringing at every edge: a deviation must reach 6 spread units
    # (library default 3) and pieces within 3 px are one region.
    cfg = AnomalyConfig(var_floor=args.var_floor, merge_px=args.merge_px)
    acc = {"model": [0, 0, 0], "base": [0, 0, 0], "model_raw": [0, 0, 0], "base_raw": [0, 0, 0]}
    pos_m, neg_m, pos_b, neg_b = [], [], [], []
    rng = np.random.default_rng(1)
    t_fit, t_score = [], []
    for temp_p, test_p, ann_p in pairs:
        temp = cv2.cvtColor(cv2.imread(str(temp_p)), cv2.COLOR_BGR2RGB)
        test = cv2.cvtColor(cv2.imread(str(test_p)), cv2.COLOR_BGR2RGB)
        gt = read_boxes(ann_p)
        valid = np.ones(test.shape[:2], bool)
        if args.align:
            test, valid = align(temp, test)
        t0 = time.perf_counter()
        model = AnomalyModel.fit([temp], [zone], scale_mm_per_px=1 / 48.0, config=cfg)
        t1 = time.perf_counter()
        res = model.score(test, valid)
        t2 = time.perf_counter()
        t_fit.append(t1 - t0)
        t_score.append(t2 - t1)
        pred = np.asarray([d.bbox for d in res.defects], np.float64).reshape(-1, 4)
        bpred, dmap = baseline_boxes(temp, test, args.base_t, args.base_min_area)
        for key, pb in (("model", pred), ("base", bpred)):
            for k, mb in ((key, args.min_box), (key + "_raw", 0)):
                acc[k][0] += match(grow(pb, mb, test.shape[:2]), gt)
                acc[k][1] += len(pb)
                acc[k][2] += len(gt)
        lab = np.zeros(test.shape[:2], bool)
        for x1, y1, x2, y2 in gt.astype(int):
            lab[y1:y2, x1:x2] = True
        samp = rng.random(lab.shape) < 0.05  # 5 % pixel sample per image keeps memory small
        pos_m.append(res.map[lab & samp]); neg_m.append(res.map[~lab & samp])
        pos_b.append(dmap[lab & samp]); neg_b.append(dmap[~lab & samp])
    print(f"DeepPCB trainval: {len(pairs)} pairs (seed {args.seed}), {acc['model'][2]} ground-truth boxes; "
          f"ECC refine {bool(args.align)}; matched boxes grown to >= {args.min_box} px; IoU > 0.33, one-to-one greedy")
    for name, (pm, nm) in {"goldenvision variation": (pos_m, neg_m), f"baseline |diff|>{args.base_t}": (pos_b, neg_b)}.items():
        key = "model" if name.startswith("golden") else "base"
        s = np.concatenate(pm + nm)
        lab = np.concatenate([np.ones(sum(len(x) for x in pm), bool), np.zeros(sum(len(x) for x in nm), bool)])
        p, r, f = prf(*acc[key])
        f_raw = prf(*acc[key + "_raw"])[2]
        print(f"  {name:28s} pixel AUROC {auroc(s, lab):.4f}  regions P {p:.3f} R {r:.3f} F {f:.3f} "
              f"(pred {acc[key][1]}, tp {acc[key][0]}; F with raw boxes {f_raw:.3f})")
    print(f"  fit median {1000 * statistics.median(t_fit):.1f} ms, score median {1000 * statistics.median(t_score):.1f} ms (640x640)")


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200, help="seeded subset size (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-box", type=int, default=32)
    ap.add_argument("--min-area-mm2", type=float, default=0.004, help="about 9 px at 48 px/mm")
    ap.add_argument("--var-floor", type=float, default=6.0)
    ap.add_argument("--merge-px", type=int, default=3)
    ap.add_argument("--base-t", type=int, default=128)
    ap.add_argument("--base-min-area", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--align", type=int, default=1, help="ECC-refine each pair first (1) or not (0)")
    ap.add_argument("--cv2-threads", type=int, default=-1,
                    help="cv2.setNumThreads before timing (-1 = leave OpenCV's default). OpenCV's pool "
                         "and onnxruntime's threads oversubscribe 2 cores: patchcore 88 ms with 1, ~800 ms with default")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    if args.cv2_threads >= 0:
        cv2.setNumThreads(args.cv2_threads)
    print(f"OpenCV threads {cv2.getNumThreads()}")
    if not args.speed_only:
        if not DATA.is_dir():
            sys.exit(f"DeepPCB not found at {DATA}")
        bench_deeppcb(args)
    if not args.no_speed:
        bench_speed(args)


if __name__ == "__main__":
    main()
