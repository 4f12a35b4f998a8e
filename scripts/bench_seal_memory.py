"""Peak memory and time of sealing N synthetic good captures (issue 13).

Each N runs in its own child process (so peaks do not accumulate); the child seals PNG
paths written beforehand into a temporary folder and reports ``ru_maxrss`` (peak resident
set size of the child), the wall-clock seconds of ``gv.seal`` and its CPU seconds (all threads;
less sensitive to other users of a shared machine). The captures are a
synthetic part of random blocks and discs (like tests/synthetic.py) at the stated size,
each photo shifted by up to 2 px and with its own sensor noise; the spec has one colour zone
and one anomaly zone covering the frame, registration ``auto`` (no station profile).

Usage::

    .venv/bin/python scripts/bench_seal_memory.py --n 50 200 500 --size 640x480
    .venv/bin/python scripts/bench_seal_memory.py --n 100 --size 1632x1224   # 2 MP

Measured 2026-12-06 on the shared 2-core build machine (three users, load average 3-7: wall
seconds vary up to 2x with the load, CPU seconds much less), peak RSS MiB / wall s / CPU s, each
N sealed alternately by the commit before the seal-speed work (f23c41e, "before") and by this one:
640x480, N = 5: 571 / 6.1-6.8 / 4.2-4.5 before, 515 / 5.9-7.4 / 3.9 now; N = 50: 641 / 58 /
29-31 before, 583-587 / 31-47 / 23.4-23.6 now; N = 200: 649 / 163 / 112 before, 590 / 101 / 82
now. In a quieter hour (load 3, the same speed-ups without the memory ones): N = 50 650 / 27.5 /
27.1 before, 610 / 22.2 / 22.0; N = 200 654 / 101 / 102 before, 616 / 82 / 81. N = 500 took
620 / 241 s before (not measured since). 1632x1224 (2 MP), N = 20: 2701 / 81 / 80 before,
2294 / 98 / 69 after the speed work: over 2 GB at 2 MP.

Peak memory at 2 MP, measured 2026-12-06 (load average 3-5), peak RSS MiB / wall s / CPU s, sealed
alternately by e05229b ("before") and by the commits that keep the anomaly fit's held-out
statistics compact ("after"): 1632x1224, N = 20: 2268-2276 / 67-69 / 67-69 before, 1454-1465 /
59-60 / 58-60 after; N = 12 (exact leave-one-out, ``AnomalyConfig.exact_loo_max``): 2577-2588 /
60-65 / 63-64 before, 1769 / 60 / 60 after; N = 100: 1521-1525 / 207-253 / 248 after (flat in N; 215 MiB of
each figure is the process after import). 1024x1024, N = 20: 1326 / 32 / 32 before, 898 / 31 / 30
after. Before, the peak held the five folds' float32 moments and scene-envelope sums while
every capture was scored (~0.5 GB at 2 MP), or every capture's float32 scene envelope in the
exact fit (~0.55 GB at N = 12); each held-out fit now keeps only what it uses (float16 mean and
std, the envelope's uint8 steps: ``anomaly.model._HeldStats``), the same numbers. What is left
at 2 MP is mostly the scoring of one held-out capture (the structure residual's planes, ~0.5
GB traced) on the fitted model's own arrays (~0.25 GB).
Most of the ~0.45 CPU s per capture is scoring it held out (cross-fitted, as a unit is
inspected): the structure residual (anomaly/structure.py) alone ~0.13 s at 640x480. The figures
recorded on 2026-12-04 (382 / 4.9 at N = 50) predate that residual's use on the golden
captures, and the scene envelope and outline checks.

Add ``--pythonpath DIR`` to seal with another checkout of the package (e.g. the commit
before streaming, extracted with ``git archive``) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def spec_for(width_px: int, height_px: int) -> dict:
    """One colour zone on the left third and one anomaly zone over the whole frame."""
    w3 = width_px // 3
    return {
        "product": "bench-part", "revision": "A", "scale_mm_per_px": 0.1, "registration": "auto",
        "colors": [{"name": "panel", "region": [[10, 10], [w3, 10], [w3, height_px - 10], [10, height_px - 10]],
                    "tolerance_de00": 2.0, "severity": "major"}],
        "anomaly_zones": [{"name": "all", "region": "full", "defect_type": "other", "severity": "major"}],
    }


def part(seed: int, width_px: int, height_px: int) -> np.ndarray:
    """The synthetic part (fixed layout), shifted by up to 2 px, with per-photo noise; (H, W, 3) uint8 RGB."""
    layout = np.random.default_rng(1)
    img = np.full((height_px, width_px, 3), 200, np.uint8)
    s = width_px / 400.0
    for _ in range(40):
        x, y = int(layout.integers(20, width_px - 20)), int(layout.integers(20, height_px - 20))
        c = tuple(int(v) for v in layout.integers(0, 180, 3))
        if layout.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(layout.integers(8, 40) * s), y + int(layout.integers(8, 40) * s)),
                          c, -1)
        else:
            cv2.circle(img, (x, y), int(layout.integers(5, 20) * s), c, -1)
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-2, 2, 2)
    img = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (width_px, height_px),
                         borderValue=(200, 200, 200))
    noisy = img + rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_captures(folder: Path, n: int, width_px: int, height_px: int) -> list[Path]:
    """Write ``n`` captures as PNG, one at a time; returns their paths."""
    paths = []
    for i in range(n):
        p = folder / f"golden_{i:04d}.png"
        if not p.exists():
            ok, buf = cv2.imencode(".png", part(i, width_px, height_px)[..., ::-1])
            assert ok
            p.write_bytes(buf.tobytes())
        paths.append(p)
    return paths


def child(folder: Path, n: int, width_px: int, height_px: int) -> None:
    """Seal the first ``n`` captures of ``folder``; print one JSON line."""
    import goldenvision as gv

    paths = [str(folder / f"golden_{i:04d}.png") for i in range(n)]
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, cpu = time.perf_counter(), time.process_time()
    golden = gv.seal(paths, spec_for(width_px, height_px))
    seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"n": n, "size": f"{width_px}x{height_px}", "peak_rss_mib": round(peak_kb / 1024, 1),
                      "rss_after_import_mib": round(base_kb / 1024, 1), "seconds": round(seconds, 1),
                      "cpu_seconds": round(cpu_seconds, 1),
                      "images_stored": len(golden.captures)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[50, 200, 500], help="captures per seal")
    ap.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of every capture in px")
    ap.add_argument("--pythonpath", default=None, help="seal with the goldenvision package found in this folder")
    ap.add_argument("--child", nargs=2, metavar=("FOLDER", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    width_px, height_px = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), width_px, height_px)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as tmp:
        write_captures(Path(tmp), max(args.n), width_px, height_px)
        print(f"{'N':>5} {'size':>10} {'peak RSS MiB':>13} {'after import':>13} {'seconds':>8} {'CPU s':>7}")
        for n in args.n:
            out = subprocess.run([sys.executable, __file__, "--size", args.size, "--child", tmp, str(n)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{r['n']:>5} {r['size']:>10} {r['peak_rss_mib']:>13} {r['rss_after_import_mib']:>13} "
                  f"{r['seconds']:>8} {r['cpu_seconds']:>7}", flush=True)


if __name__ == "__main__":
    main()
