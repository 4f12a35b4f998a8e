"""Benchmark of goldenvision.registration (issue 3): accuracy, honesty, speed.

Usage::

    .venv/bin/python scripts/bench_registration.py [--data /work/shared/data/deeppcb-trainval]
        [--warps 200] [--unrelated 100] [--seed 0] [--no-baseline]

1. DeepPCB templates (``*_temp.jpg``, 640 x 640 binarised boards) warped by random homographies
   (rotation +-180 deg, scale 0.8-1.25, perspective, brightness x0.7-1.3, Gaussian noise
   sigma 4 gray levels) and recovered. Corner error = the largest distance between the four
   reference corners mapped by the estimated and the true homography (px). Templates are
   split by an independent content measure (connected components of the binarised board,
   black and white together): "structured" (>= 6) vs "sparse" (a single bar, disc or few
   blobs). "wrong" = reported ok with corner error > 1 px; "refused" = ok False. Each refusal is
   also re-run from the TRUE pose (refinement + every check, no search): refused there too means
   the content left in view cannot certify the pose to the 0.2 px (1 sigma) the checks demand
   (most of the board outside the frame, stripes, a corner); refused only from the search
   means the coarse stage failed. Cramer-Rao bounds of the visible content are printed too.
   Plain OpenCV (SIFT + RANSAC + findTransformECC homography; AKAZE is not in the OpenCV 5
   build) is shown beside it: it has no verification, so it never refuses.
2. Unrelated pairs (two different boards, noise, a blank frame): refusal rate.
3. 2 MP timing: median of 20 registrations of a 1600 x 1200 rendered textured image with the
   model precomputed, against computing the reference side every time.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import cv2
import numpy as np

from goldenvision.registration import RegistrationModel, corner_error_px, register


def random_warp(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Reference px -> moving px homography: rotation, scale, perspective, shift about the centre."""
    th = np.radians(rng.uniform(-180, 180))
    s = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    c = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1.0]])
    r = np.array([[np.cos(th) * s, -np.sin(th) * s, 0], [np.sin(th) * s, np.cos(th) * s, 0], [0, 0, 1.0]])
    p = np.eye(3)
    p[2, :2] = rng.uniform(-2e-4, 2e-4, 2)  # up to ~0.13 change of homogeneous scale at the corners
    t = np.array([[1, 0, w / 2 + rng.uniform(-20, 20)], [0, 1, h / 2 + rng.uniform(-20, 20)], [0, 0, 1.0]])
    return t @ p @ r @ c


def make_moving(rng, ref: np.ndarray, g: np.ndarray, gain_out: list | None = None) -> np.ndarray:
    h, w = ref.shape
    gain = rng.uniform(0.7, 1.3)
    if gain_out is not None:
        gain_out.append(gain)
    mov = cv2.warpPerspective(ref.astype(np.float32), g, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=float(np.median(ref)))
    mov = mov * gain + rng.normal(0, 4.0, mov.shape)
    return np.clip(mov, 0, 255).astype(np.uint8)


def n_components(gray: np.ndarray) -> int:
    b = (gray > 127).astype(np.uint8)
    n1, _ = cv2.connectedComponents(b)
    n2, _ = cv2.connectedComponents(1 - b)
    return (n1 - 1) + (n2 - 1)


def plain_opencv(ref: np.ndarray, mov: np.ndarray) -> np.ndarray | None:
    """SIFT + ratio test + RANSAC homography + findTransformECC (MOTION_HOMOGRAPHY)."""
    sift = cv2.SIFT_create(nfeatures=2000)
    kr, dr = sift.detectAndCompute(ref, None)
    km, dm = sift.detectAndCompute(mov, None)
    if dr is None or dm is None or len(kr) < 4 or len(km) < 4:
        return None
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(dm, dr, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < 4:
        return None
    src = np.float32([km[m.queryIdx].pt for m in good])
    dst = np.float32([kr[m.trainIdx].pt for m in good])
    h, _ = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if h is None:
        return None
    warp = np.linalg.inv(h).astype(np.float32)  # ECC: template(x) ~ input(W x), W: ref -> moving
    try:
        _, warp = cv2.findTransformECC(ref.astype(np.float32), mov.astype(np.float32), warp, cv2.MOTION_HOMOGRAPHY,
                                       (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-6), None, 5)
    except cv2.error:
        pass
    return np.linalg.inv(warp.astype(np.float64))


def crlb_corner_px(ref: np.ndarray, g: np.ndarray, sigma: float = 4.0) -> float:
    """Cramér-Rao bound (1 sigma, px) on the worst reference corner of the homography, from the
    reference content that the true warp ``g`` (reference -> moving px) keeps inside the unit
    image, for white noise of ``sigma`` gray levels (the warps' noise) and known gain.

    Algorithm-free measure of how well the visible content fixes the pose: Fisher information
    of the 8 homography parameters ``sum J^T J / sigma^2`` over every reference pixel with a
    gradient, ``J`` = gradient x d(point)/d(parameters) (Baker & Matthews 2004, IJCV 56(3)),
    propagated to the four corners. A real estimator sees blur, gain and interpolation too and
    does several times worse; the bound ranks warps by how much content they leave in view.
    """
    h, w = ref.shape
    f = ref.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3).ravel().astype(np.float64) / 8
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3).ravel().astype(np.float64) / 8
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    q = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), g).reshape(-1, 2)
    sel = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1) & (gx**2 + gy**2 > 1.0)
    x, y = pts[sel, 0] / w - 0.5, pts[sel, 1] / h - 0.5
    ax, ay = gx[sel] * w, gy[sel] * h
    r = ax * x + ay * y
    jac = np.c_[ax * x, ax * y, ax, ay * x, ay * y, ay, -r * x, -r * y]
    try:
        cov = np.linalg.inv(jac.T @ jac / sigma**2)
    except np.linalg.LinAlgError:
        return float("inf")
    worst = 0.0
    for cx, cy in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)):
        a = np.array([[cx * w, cy * w, w, 0, 0, 0, -cx * cx * w, -cx * cy * w],
                      [0, 0, 0, cx * h, cy * h, h, -cy * cx * h, -cy * cy * h]])
        worst = max(worst, float(np.sqrt(max(np.trace(a @ cov @ a.T), 0.0))))
    return worst


def from_truth(model: RegistrationModel, mov: np.ndarray, h_true: np.ndarray) -> tuple[str | None, float]:
    """The refinement and every check of ``register`` started at the true pose: (reason it is
    still refused or None, corner error px). Separates warps whose visible content cannot
    certify the pose (refused from the truth too) from failures of the coarse search."""
    from goldenvision import registration as reg

    mpyr = reg._pyramid(mov, reg._n_levels_for(mov.shape))
    h, _fine, _ncc, why = reg._evaluate(model, mpyr, h_true / h_true[2, 2], affine=False, pairs=None)
    return why, (corner_error_px(h, h_true, mov.shape) if h is not None else float("inf"))


def summarise(name: str, errs: list[float], oks: list[bool]) -> str:
    e = np.array([x for x, o in zip(errs, oks) if o])
    n = len(oks)
    wrong = int(np.sum(e > 1.0)) if e.size else 0
    refused = n - len(e)
    if e.size:
        return (f"{name:40s} n={n:4d}  median {np.median(e):.3f} px  p99 {np.percentile(e, 99):.3f} px  "
                f"max {e.max():.2f} px  wrong(ok, >1px) {wrong} ({100 * wrong / n:.1f}%)  "
                f"refused {refused} ({100 * refused / n:.1f}%)")
    return f"{name:40s} n={n:4d}  all refused"


def bench_pcb(files: list[str], n_warps: int, rng, baseline: bool) -> None:
    rows = {"ours": {"structured": ([], []), "sparse": ([], [])}, "plain": {"structured": ([], []), "sparse": ([], [])}}
    models: dict[str, tuple[np.ndarray, RegistrationModel, str]] = {}
    t_ours = []
    refusals: list[tuple[str, str, str]] = []
    bounds: dict[bool, list[float]] = {True: [], False: []}
    truth_refused: list[tuple[bool, float]] = []
    calib: list[tuple[float, float]] = []  # (true worst-corner error, rms_px) of accepted structured warps
    picks = rng.choice(len(files), n_warps, replace=True)
    for i, fi in enumerate(picks):
        f = files[fi]
        if f not in models:
            ref = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
            group = "structured" if n_components(ref) >= 6 else "sparse"
            models[f] = (ref, RegistrationModel.fit(ref), group)
        ref, model, group = models[f]
        g = random_warp(rng, *ref.shape)
        gains: list = []
        mov = make_moving(rng, ref, g, gains)
        h_true = np.linalg.inv(g)
        t0 = time.perf_counter()
        r = register(ref, mov, model=model)
        t_ours.append(time.perf_counter() - t0)
        err = corner_error_px(r.homography, h_true, ref.shape) if r.ok else np.inf
        rows["ours"][group][0].append(err)
        rows["ours"][group][1].append(bool(r.ok))
        bound = crlb_corner_px(ref, g)
        if group == "structured":
            bounds[bool(r.ok)].append(bound)
            if r.ok:
                calib.append((err, r.rms_px))
        if not r.ok:
            why_truth, err_truth = from_truth(model, mov, h_true)
            refusals.append((group, os.path.basename(f), f"bound {bound:.3f} px; from the true pose: "
                             f"{why_truth or 'certified'} (error {err_truth:.2f} px); {r.reason}"))
            if group == "structured":
                truth_refused.append((why_truth is not None, err_truth))
        if group == "structured":
            key = "structured, gain <= 1" if gains[0] <= 1 else "structured, gain > 1 (whites clip)"
            rows["ours"].setdefault(key, ([], []))
            rows["ours"][key][0].append(err)
            rows["ours"][key][1].append(bool(r.ok))
        if baseline:
            hb = plain_opencv(ref, mov)
            eb = corner_error_px(hb, h_true, ref.shape) if hb is not None else np.inf
            rows["plain"][group][0].append(eb)
            rows["plain"][group][1].append(hb is not None)
        if (i + 1) % 50 == 0:
            print(f"  ... {i + 1}/{n_warps}", flush=True)
    print(f"\n[1] DeepPCB templates, {n_warps} random warps ({len(models)} boards), seed-fixed")
    for who in ("ours", "plain") if baseline else ("ours",):
        for group in ("structured", "sparse", "structured, gain <= 1", "structured, gain > 1 (whites clip)"):
            if group not in rows[who]:
                continue
            errs, oks = rows[who][group]
            if oks:
                print(summarise(f"{who} / {group}", errs, oks))
    if bounds[True]:
        b = np.array(bounds[True])
        print(f"  Cramer-Rao corner bound of the visible content (1 sigma, px; see crlb_corner_px): accepted "
              f"structured warps median {np.median(b):.4f}, p95 {np.percentile(b, 95):.4f}, max {b.max():.4f}; "
              f"refused structured: {', '.join(f'{v:.3f}' for v in sorted(bounds[False])) or 'none'}")
    if calib:
        q = np.array([e / max(s, 1e-12) for e, s in calib])
        print(f"  predicted uncertainty (rms_px, 1 sigma) against the true worst-corner error, accepted structured "
              f"warps: error / rms_px median {np.median(q):.2f}, p90 {np.percentile(q, 90):.2f}, max {q.max():.2f}; "
              f"rms_px median {np.median([s for _, s in calib]):.4f} px")
    n_struct = len(rows["ours"]["structured"][1])
    if truth_refused:
        n_unc = sum(1 for u, _ in truth_refused if u)
        errs = [e for u, e in truth_refused if u and np.isfinite(e)]
        print(f"  structured refusals that the checks refuse even when the refinement starts at the TRUE pose "
              f"(the visible content cannot certify 0.2 px, 1 sigma): {n_unc} of {len(truth_refused)}"
              + (f" (their from-truth errors: median {np.median(errs):.2f}, max {max(errs):.2f} px)" if errs else ""))
        n_cert = n_struct - n_unc
        print(f"  structured warps whose true pose is certifiable: {n_cert}; refused among them "
              f"{len(truth_refused) - n_unc} ({100 * (len(truth_refused) - n_unc) / max(n_cert, 1):.2f}%)")
    for group, name, reason in refusals:
        print(f"  refused ({group}) {name}: {reason[:400]}")
    print(f"ours: median time per registration {1000 * np.median(t_ours):.1f} ms (640 x 640, model precomputed)")


def bench_unrelated(files: list[str], n: int, rng) -> None:
    print(f"\n[2] unrelated pairs ({n} different boards + {n // 2} noise + {n // 2} blank + {n // 2} blurred other)")
    counts = {"other board": [0, 0], "noise": [0, 0], "blank": [0, 0], "blurred other board": [0, 0]}
    for _ in range(n):
        i, j = rng.choice(len(files), 2, replace=False)
        ref = cv2.imread(files[i], cv2.IMREAD_GRAYSCALE)
        oth = cv2.imread(files[j], cv2.IMREAD_GRAYSCALE)
        model = RegistrationModel.fit(ref)
        mov = make_moving(rng, oth, random_warp(rng, *oth.shape))
        r = register(ref, mov, model=model)
        counts["other board"][0] += 1
        counts["other board"][1] += int(r.ok)
        if _ < n // 2:
            noise = rng.integers(0, 256, ref.shape).astype(np.uint8)
            r = register(ref, noise, model=model)
            counts["noise"][0] += 1
            counts["noise"][1] += int(r.ok)
            blank = np.full(ref.shape, int(rng.integers(0, 256)), np.uint8)
            blank = np.clip(blank + rng.normal(0, 1.0, ref.shape), 0, 255).astype(np.uint8)
            r = register(ref, blank, model=model)
            counts["blank"][0] += 1
            counts["blank"][1] += int(r.ok)
            r = register(ref, cv2.GaussianBlur(mov, (0, 0), 6), model=model)
            counts["blurred other board"][0] += 1
            counts["blurred other board"][1] += int(r.ok)
    tot = sum(c[0] for c in counts.values())
    okn = sum(c[1] for c in counts.values())
    for k, (nn, o) in counts.items():
        if nn:
            print(f"  {k:22s} n={nn:4d}  reported ok {o}  refusal {100 * (nn - o) / nn:.1f}%")
    print(f"  overall refusal {100 * (tot - okn) / tot:.1f}% ({okn} of {tot} reported ok)")


def textured_2mp(rng) -> np.ndarray:
    h, w = 1200, 1600
    img = np.full((h, w, 3), 90, np.uint8)
    for _ in range(600):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(4, 40)), c, -1, cv2.LINE_AA)
    for _ in range(200):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, c, int(rng.integers(1, 5)), cv2.LINE_AA)
    grain = rng.normal(0, 6, (h, w, 1))
    return np.clip(cv2.GaussianBlur(img, (0, 0), 1.2) + grain, 0, 255).astype(np.uint8)


def bench_timing(rng) -> None:
    print("\n[3] 2 MP timing (1600 x 1200 RGB, rotation 5 deg, shift, gain 1.1, noise; product-area mask)")
    ref = textured_2mp(rng)
    h, w = ref.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[120:864, 120:1480] = True  # the demo profile's product_area_mm at 0.125 mm/px
    th = np.radians(5.0)
    g = np.array([[np.cos(th), -np.sin(th), 30.0], [np.sin(th), np.cos(th), -25.0], [0, 0, 1]])
    mov = np.clip(cv2.warpAffine(ref, g[:2], (w, h), borderValue=(90, 90, 90)) * 1.1 + rng.normal(0, 3, ref.shape), 0, 255).astype(np.uint8)
    t0 = time.perf_counter()
    model = RegistrationModel.fit(ref, mask=mask)
    t_fit = time.perf_counter() - t0
    times, errs, oks = [], [], []
    register(ref, mov, model=model)  # warm-up
    for _ in range(20):
        t0 = time.perf_counter()
        r = register(ref, mov, model=model)
        times.append(time.perf_counter() - t0)
        oks.append(r.ok)
        errs.append(corner_error_px(r.homography, np.linalg.inv(g), (h, w)))
    t_nomodel = []
    for _ in range(3):
        t0 = time.perf_counter()
        register(ref, mov, mask=mask)
        t_nomodel.append(time.perf_counter() - t0)
    print(f"  with stored model: median {1000 * np.median(times):.1f} ms, min {1000 * np.min(times):.1f} ms "
          f"(20 runs, ok {sum(oks)}/20, corner error {np.median(errs):.3f} px)")
    print(f"  model fit (once, at sealing): {1000 * t_fit:.0f} ms")
    print(f"  without model (fit every call): median {1000 * np.median(t_nomodel):.0f} ms (3 runs)")
    print(f"  state size: {sum(v.nbytes for v in model.to_state().values() if isinstance(v, np.ndarray)) / 1e6:.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/deeppcb-trainval")
    ap.add_argument("--warps", type=int, default=200)
    ap.add_argument("--unrelated", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--only", choices=["pcb", "unrelated", "timing"], default=None)
    args = ap.parse_args()
    cv2.setRNGSeed(args.seed)
    rng = np.random.default_rng(args.seed)
    files = sorted(glob.glob(os.path.join(args.data, "group*", "*", "*_temp.jpg")))
    print(f"cv2 {cv2.__version__}, threads {cv2.getNumThreads()}, {len(files)} templates")
    if args.only in (None, "timing"):
        bench_timing(rng)
    if files and args.only in (None, "pcb"):
        bench_pcb(files, args.warps, rng, not args.no_baseline)
    if files and args.only in (None, "unrelated"):
        bench_unrelated(files, args.unrelated, rng)


if __name__ == "__main__":
    main()
