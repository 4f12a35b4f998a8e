#!/usr/bin/env python3
"""How well goldenvision reads a photo's JPEG compression (goldenvision.jpeg_noise).

Renders zoo units in the station light box (lossless), encodes each at several JPEG qualities,
and prints, per quality:

* the quality the decoded pixels show (``pixel_quality``) against the true one, straight and
  after the decoded photo was saved again at 100;
* the rounding error the anomaly stage sees (Gaussian low-pass of ``blur_sigma_px``) beyond the
  same photo's at the floor quality (``goldenvision.pipeline.JPEG_FLOOR_QUALITY``), summed over
  the frame, against :func:`~goldenvision.jpeg_noise.error_variance`'s prediction, for several
  values of ``ZEROED_SHARE`` (1.0 = unbiased in total);
* the time of ``pixel_quality`` and ``error_variance`` on one photo.

Usage: ``python scripts/bench_jpeg.py [--units 2] [--seed 0] [--shares 0.25,0.1,0.05,0]``
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import goldenvision.jpeg_noise as J
from goldenvision.anomaly.variation import BLUR_SIGMA_PX
from goldenvision.demo.zoo import FAMILIES
from goldenvision.demo.zoo.camera import photograph_unit
from goldenvision.demo.zoo.lot import make_zoo_unit
from goldenvision.pipeline import JPEG_FLOOR_QUALITY

QUALITIES = (90, 80, 75, 70, 60, 50)


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    ok, b = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(b, cv2.IMREAD_COLOR)[..., ::-1])


def _blur(a: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(a.astype(np.float32), (0, 0), BLUR_SIGMA_PX)


def blocks(x: np.ndarray) -> np.ndarray:
    """Mean over 16 x 16 px blocks (H/16, W/16, 3)."""
    hh, ww = x.shape[0] // 16 * 16, x.shape[1] // 16 * 16
    return x[:hh, :ww].reshape(hh // 16, 16, ww // 16, 16, 3).mean(axis=(1, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=2, help="units per family")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=float, default=0.6)
    ap.add_argument("--shares", default="0.25,0.1,0.05,0")
    a = ap.parse_args()
    shares = [float(s) for s in a.shares.split(",")]
    photos = []
    t0 = time.perf_counter()
    for fam in FAMILIES.values():
        for i in range(a.units):
            unit = make_zoo_unit(fam, i, "none", a.seed, "station")
            photos.append(photograph_unit(fam, unit, a.size))
    print(f"{len(photos)} station photos ({len(FAMILIES)} families x {a.units}), {photos[0].shape[1]} x "
          f"{photos[0].shape[0]} px, rendered in {time.perf_counter() - t0:.1f} s; floor quality {JPEG_FLOOR_QUALITY}, "
          f"blur {BLUR_SIGMA_PX} px\n")
    print("quality | read from the pixels (min..max) | after a re-save at 100 | never compressed: "
          f"{sum(J.pixel_quality(p) is None for p in photos)}/{len(photos)} read as none")
    floor = {id(p): _jpeg(p, JPEG_FLOOR_QUALITY) for p in photos}
    ratios: dict[float, list[str]] = {s: [] for s in shares}
    for q in QUALITIES:
        reads, again, act, pred = [], [], 0.0, {s: 0.0 for s in shares}
        for p in photos:
            d = _jpeg(p, q)
            r = J.pixel_quality(d)
            reads.append(-1 if r is None else r)
            r2 = J.pixel_quality(_jpeg(d, 100))
            again.append(-1 if r2 is None else r2)
            if q >= JPEG_FLOOR_QUALITY:
                continue
            e = _blur(d) - _blur(p)
            e0 = _blur(floor[id(p)]) - _blur(p)
            act += float(np.maximum(blocks(e * e) - blocks(e0 * e0), 0.0).sum())
            for s in shares:
                J.ZEROED_SHARE = s
                v = J.error_variance(d, J.table_of_quality(q), sigma_px=BLUR_SIGMA_PX,
                                     reference=J.table_of_quality(JPEG_FLOOR_QUALITY))
                pred[s] += float(blocks(v).sum())
        fmt = lambda xs: f"{min(xs):.0f}..{max(xs):.0f}" if min(xs) >= 0 else f"{sum(x < 0 for x in xs)} none"  # noqa: E731
        print(f"  {q:5d} | {fmt(reads):>31s} | {fmt(again):>22s}")
        if q < JPEG_FLOOR_QUALITY:
            for s in shares:
                ratios[s].append(f"q{q} {act / max(pred[s], 1e-9):.2f}")
    print("\nrounding error beyond the floor quality's, actual / predicted, summed over the frames:")
    for s in shares:
        print(f"  ZEROED_SHARE {s:<5}: " + "  ".join(ratios[s]))
    p = _jpeg(photos[0], 70)
    for name, fn in (("pixel_quality", lambda: J.pixel_quality(p)),
                     ("error_variance", lambda: J.error_variance(p, J.table_of_quality(70), sigma_px=BLUR_SIGMA_PX,
                                                                 reference=J.table_of_quality(JPEG_FLOOR_QUALITY)))):
        fn()
        t = time.perf_counter()
        for _ in range(10):
            fn()
        print(f"{name}: {(time.perf_counter() - t) * 100:.1f} ms per {p.shape[1]} x {p.shape[0]} photo")


if __name__ == "__main__":
    main()
