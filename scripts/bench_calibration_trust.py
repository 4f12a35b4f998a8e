"""Benchmark the per-photo chart trust check: the pre-check's cost and what it says on real photos.

Without a station chart the pipeline runs ``chart_precheck`` on every photo, then the full
``chart_trust_check`` only where it may hold a ColorChecker. This prints:

1. the pre-check's time (best and median of 7) and answer on 6 MP frames: plain, with a 200 px
   chart in clutter, uniform noise (a false positive by design: every hue everywhere);
2. the full ``photo_color_correction`` time and result on the 6 MP chart frame;
3. the pre-check's answer on real photos without a chart (GoPro chessboards, KolektorSDD,
   DeepPCB) and with one (Flea3 ColorChecker), from ``/work/shared/data``.

Usage::

    .venv/bin/python scripts/bench_calibration_trust.py [--data /work/shared/data]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import cv2
import numpy as np

from goldenvision.calibration.trust import chart_precheck, photo_color_correction
from goldenvision.imageio import read_image


def _time(img: np.ndarray, n: int = 7) -> tuple[bool, float, float]:
    chart_precheck(img)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        r = chart_precheck(img)
        ts.append(time.perf_counter() - t)
    return r, 1e3 * min(ts), 1e3 * float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from test_calibration import _render_chart_in_clutter

    plain = np.full((2000, 3000, 3), 120, np.uint8)
    cv2.randn(plain, 120, 8)
    chart = _render_chart_in_clutter()
    noise = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
    for name, img in (("6 MP plain", plain), ("6 MP, 200 px chart in clutter", chart), ("6 MP uniform noise", noise)):
        r, best, med = _time(img)
        print(f"pre-check {name:32s}: {r!s:5s} best {best:.2f} ms, median {med:.2f} ms")
    t = time.perf_counter()
    cc = photo_color_correction(chart)
    print(f"photo_color_correction on the chart frame: {cc.method}, residual {cc.residual_de00_mean:.3f} ΔE00, "
          f"{time.perf_counter() - t:.2f} s")
    sets = {"chessboard-gopro (no chart)": "chessboard-gopro/*.jpg", "kolektorsdd (no chart)": "kolektorsdd/*/*.jpg",
            "deeppcb (no chart)": "deeppcb-trainval/*/*/*.jpg",
            "colorchecker-flea3 (chart)": "colorchecker-flea3/color_correction/*.tif"}
    for name, pat in sets.items():
        files = sorted(glob.glob(os.path.join(a.data, pat)))[:200]
        if not files:
            print(f"{name}: no files")
            continue
        hits, times = 0, []
        for f in files:
            img = read_image(f)
            t = time.perf_counter()
            hits += chart_precheck(img)
            times.append(time.perf_counter() - t)
        print(f"{name:30s}: pre-check says 'maybe a chart' on {hits}/{len(files)}, median {1e3 * np.median(times):.2f} ms")


if __name__ == "__main__":
    main()
