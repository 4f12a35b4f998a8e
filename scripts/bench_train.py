"""Benchmark a trained detector bundle: onnxruntime ms per image pair, and (optionally) its accuracy.

    .venv/bin/python scripts/bench_train.py MODEL_DIR                       # 640 x 640 pairs, 2 threads
    .venv/bin/python scripts/bench_train.py MODEL_DIR --pairs /work/shared/data/deeppcb-trainval --n 50

Prints the median and 90th percentile of ``DefectDetector.maps`` + decoding per 640 x 640 pair
(test + template through the bundle's graph, as a station runs it), with the load average,
since other processes on the machine slow it. Needs no torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from goldenvision.detect.runtime import DefectDetector  # noqa: E402
from goldenvision.imageio import read_image  # noqa: E402


def _pairs(root: Path | None, n: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if root is None:
        rng = np.random.default_rng(0)
        out = []
        for _ in range(n):
            template = (rng.random((size, size)) > 0.5).astype(np.uint8) * 255
            test = template.copy()
            y, x = rng.integers(0, size - 20, 2)
            test[y : y + 20, x : x + 20] ^= 255
            out.append((np.repeat(test[..., None], 3, 2), np.repeat(template[..., None], 3, 2)))
        return out
    tests = sorted(root.rglob("*_test.jpg"))[:n]
    if not tests:
        raise SystemExit(f"{root}: no *_test.jpg / *_temp.jpg pairs")
    return [(read_image(p), read_image(p.with_name(p.name.replace("_test", "_temp")))) for p in tests]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="MODEL_DIR (train --out) or a bundle directory")
    ap.add_argument("--pairs", type=Path, default=None, help="a folder with *_test.jpg / *_temp.jpg pairs (DeepPCB)")
    ap.add_argument("--n", type=int, default=30, help="pairs timed")
    ap.add_argument("--size", type=int, default=640, help="side of the random pairs when --pairs is not given")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    bundle = args.model / "bundle" if (args.model / "bundle" / "manifest.json").is_file() else args.model
    t0 = time.perf_counter()
    det = DefectDetector(bundle, threads=args.threads)
    load_ms = 1000 * (time.perf_counter() - t0)
    pairs = _pairs(args.pairs, args.n, args.size)
    det.detect(*pairs[0])  # warm-up
    ts = []
    for test, template in pairs:
        t = time.perf_counter()
        det.detect(test, template)
        ts.append(1000 * (time.perf_counter() - t))
    h, w = pairs[0][0].shape[:2]
    print(f"bundle {det.info.name} {det.info.version} sha256 {det.info.bundle_sha256[:16]}; load + verify {load_ms:.0f} ms")
    print(f"onnxruntime {args.threads} threads, {len(ts)} pairs of {w} x {h}: median {np.median(ts):.1f} ms, "
          f"p90 {np.percentile(ts, 90):.1f} ms per pair (goal <= 100 ms)")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
