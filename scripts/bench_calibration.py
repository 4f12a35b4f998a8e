"""Benchmark station calibration.

1. Camera intrinsics on real photos: ``calibrate_camera`` over the GoPro chessboard set
   (``/work/shared/data/chessboard-gopro/*.jpg``, 8x6 inner corners, strong distortion):
   RMS reprojection error, views used, time.
2. ``ColorCorrection.to_lab`` throughput on 1e6 pixels.
3. ``rectify`` on a synthetic demo-like photo: corner error against the known homography, time.

Usage::

    .venv/bin/python scripts/bench_calibration.py [--data /work/shared/data/chessboard-gopro] [--max-views N]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import cv2
import numpy as np

from goldenvision.calibration.color import ColorCorrection
from goldenvision.calibration.geometry import calibrate_camera, rectify
from goldenvision.calibration.profile import load_profile
from goldenvision.imageio import read_image
from goldenvision.transform import apply_homography


def bench_chessboard(folder: str, max_views: int | None) -> None:
    paths = sorted(glob.glob(os.path.join(folder, "*.jpg")))
    if max_views:
        paths = paths[:max_views]
    if not paths:
        print(f"chessboard: no *.jpg in {folder}; skipped")
        return
    t0 = time.perf_counter()
    images = [read_image(p) for p in paths]
    t1 = time.perf_counter()
    cal = calibrate_camera(images, pattern_size=(8, 6), square_mm=1.0)
    t2 = time.perf_counter()
    k = cal.camera_matrix
    print(f"chessboard-gopro: {len(paths)} views {cal.image_size[0]}x{cal.image_size[1]}, read {t1 - t0:.2f} s")
    print(f"  calibrate_camera: rms reprojection {cal.rms_px:.3f} px, views used {cal.n_used}/{len(paths)}, "
          f"time {t2 - t1:.2f} s ({(t2 - t1) / len(paths) * 1e3:.0f} ms/view)")
    print(f"  fx {k[0, 0]:.1f} fy {k[1, 1]:.1f} cx {k[0, 2]:.1f} cy {k[1, 2]:.1f} px; "
          f"dist {np.array2string(cal.dist_coeffs, precision=4)}")
    unused = sorted(set(range(len(paths))) - set(cal.used))
    if unused:
        print(f"  board not found in: {[os.path.basename(paths[i]) for i in unused]}")


def bench_to_lab() -> None:
    cc = ColorCorrection(matrix=np.array([[1.2, -0.1, 0.0], [0.05, 0.95, 0.0], [0.0, -0.05, 1.3]]),
                         residual_de00_mean=0.0, residual_de00_max=0.0, method="bench")
    rgb = np.random.default_rng(0).integers(0, 256, (1_000_000, 3), dtype=np.uint8)
    cc.to_lab(rgb)  # warm-up
    times = []
    for _ in range(7):
        t = time.perf_counter()
        cc.to_lab(rgb)
        times.append(time.perf_counter() - t)
    print(f"to_lab 1e6 px: median {np.median(times) * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms (7 runs)")


def bench_rectify() -> None:
    prof = load_profile("lightbox-demo")
    w, h = prof.frame_px
    img = np.full((h, w), 200, np.uint8)
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    side = int(round(prof.marker_size_mm / prof.scale_mm_per_px))
    for i, c in prof.marker_corners_mm.items():
        x0, y0 = np.rint(c[0] / prof.scale_mm_per_px).astype(int)
        img[y0: y0 + side, x0: x0 + side] = np.where(cv2.aruco.generateImageMarker(d, i, side) > 0, 200, 25)
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    errs, times = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        dst = src * 0.975 + np.float32([18, 14]) + rng.uniform(-12, 12, (4, 2)).astype(np.float32)
        h_true = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
        cam = cv2.warpPerspective(img, h_true, (1600, 1200), flags=cv2.INTER_LINEAR, borderValue=200)
        cam = np.clip(cam + rng.normal(0, 2.0, cam.shape), 0, 255).astype(np.uint8)
        rgb = np.stack([cam] * 3, axis=-1)
        t = time.perf_counter()
        r = rectify(rgb, prof)
        times.append(time.perf_counter() - t)
        xs, ys = np.meshgrid(np.linspace(0, w - 1, 9), np.linspace(0, h - 1, 7))
        pts = np.column_stack([xs.ravel(), ys.ravel()])
        errs.append(np.linalg.norm(apply_homography(apply_homography(pts, h_true), r.homography) - pts, axis=1).max())
    print(f"rectify (synthetic demo-like 1600x1200, noise 2): max station-point error {max(errs):.4f} px "
          f"over 5 photos, median time {np.median(times) * 1e3:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/shared/data/chessboard-gopro")
    ap.add_argument("--max-views", type=int, default=None)
    args = ap.parse_args()
    bench_chessboard(args.data, args.max_views)
    bench_to_lab()
    bench_rectify()


if __name__ == "__main__":
    main()
