"""Sealing products whose captures cannot be aligned precisely (issue 13): seal, then judge.

    .venv/bin/python scripts/bench_seal_fallback.py [--goldens 8] [--units 16]

Two synthetic products, each photographed at any angle on a plain ground (480x360):
- ``plate``: a smooth plain moulded plate (an oval with a notch); keypoints and correlation
  cannot pin its pose, its silhouette can (defect: a 7 px dark dent);
- ``pebble``: a natural product, speckled, whose outline differs unit to unit (defect: a 9 px
  dark spot).
The spec says ``registration: auto`` with one ``full`` anomaly zone. Prints which fallback the
seal chose, the image AUROC of the anomaly score (defective vs good units), good units
flagged and defective units failed at the default threshold.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import goldenvision as gv


def auroc(pos, neg) -> float:
    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def plate(seed: int, defect: bool = False, w: int = 480, h: int = 360) -> np.ndarray:
    r = np.random.default_rng(seed)
    canvas = np.zeros((400, 400, 3), np.float32)
    m = np.zeros((400, 400), np.uint8)
    cv2.ellipse(m, (200, 200), (150, 80), 0, 0, 360, 1, -1)
    cv2.rectangle(m, (330, 190), (360, 210), 0, -1)
    canvas[m > 0] = (190, 190, 185)
    if defect:
        cv2.circle(canvas, (int(r.uniform(130, 270)), int(r.uniform(170, 230))), 7, (110, 105, 100), -1)
    rot = cv2.getRotationMatrix2D((200, 200), r.uniform(0, 360), 1 + 0.02 * r.standard_normal())
    rot[:, 2] += (w / 2 - 200 + r.uniform(-30, 30), h / 2 - 200 + r.uniform(-20, 20))
    img = cv2.warpAffine(canvas, rot, (w, h))
    inside = cv2.warpAffine(m * 255, rot, (w, h)) > 127
    img = np.where(inside[..., None], img, np.float32([50, 50, 60])) + r.normal(0, 2, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def pebble(seed: int, defect: bool = False, w: int = 480, h: int = 360) -> np.ndarray:
    r = np.random.default_rng(seed)
    img = np.full((h, w, 3), 60, np.float32) + r.normal(0, 3, (h, w, 3))
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    a, b = 150 * (1 + 0.06 * r.standard_normal()), 100 * (1 + 0.06 * r.standard_normal())
    rad = 1 + sum(0.04 * r.standard_normal() * np.cos(k * t + r.uniform(0, 6.28)) for k in range(2, 6))
    ang = r.uniform(0, 2 * np.pi)
    cx, cy = w / 2 + r.uniform(-30, 30), h / 2 + r.uniform(-20, 20)
    xs, ys = a * rad * np.cos(t), b * rad * np.sin(t)
    px, py = cx + xs * np.cos(ang) - ys * np.sin(ang), cy + xs * np.sin(ang) + ys * np.cos(ang)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.stack([px, py], 1).astype(np.int32)], 1)
    tex = cv2.GaussianBlur(r.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.5)
    body = np.float32([150, 120, 80])[None, None] + 14 * (tex / tex.std())[..., None]
    img = np.where(mask[..., None] > 0, body, img)
    if defect:
        cv2.circle(img, (int(cx + r.uniform(-40, 40)), int(cy + r.uniform(-25, 25))), 9, (70, 55, 40), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--goldens", type=int, default=8)
    ap.add_argument("--units", type=int, default=16)
    args = ap.parse_args()
    base = {"revision": "A", "scale_mm_per_px": 0.1, "registration": "auto",
            "anomaly_zones": [{"name": "all", "region": "full", "defect_type": "other", "severity": "major"}]}
    print("product | sealed with | seal s | AUROC | good flagged | defective failed | ms/unit")
    for name, fn in (("plate", plate), ("pebble", pebble)):
        t = time.perf_counter()
        g = gv.seal([fn(s) for s in range(args.goldens)], {**base, "product": name})
        seal_s = time.perf_counter() - t
        fb = g.meta.get("alignment_fallback") or {}
        ins = gv.Inspector(g)
        score: dict[str, list[float]] = {"good": [], "bad": []}
        verdict: dict[str, list[str]] = {"good": [], "bad": []}
        t = time.perf_counter()
        for s in range(100, 100 + args.units):
            for kind in ("good", "bad"):
                r = ins.inspect(fn(s, defect=kind == "bad"))
                score[kind].append(r.anomaly_score or 0.0)
                verdict[kind].append(r.verdict.value)
        ms = (time.perf_counter() - t) * 1e3 / (2 * args.units)
        print(f"{name} | {fb.get('registration') or g.spec.registration} | {seal_s:.1f} | "
              f"{auroc(score['bad'], score['good']):.3f} | {sum(v != 'pass' for v in verdict['good'])}/{args.units} | "
              f"{sum(v == 'fail' for v in verdict['bad'])}/{args.units} | {ms:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
