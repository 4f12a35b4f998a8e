"""Latency and CPU of a held Inspector on the demo lot: what a station pays per unit.

    .venv/bin/python scripts/bench_inspector.py [--units 12] [--goldens 3] [--size 1.0] [--repeat 2]
        [--opencv-threads N] [--out /tmp/gv-bench-inspector]

Renders the demo lot (or reuses the one in ``--out``), seals and saves its golden, builds one
``gv.Inspector`` and inspects every unit ``--repeat`` times. Prints the Inspector's build
time, the median wall time and process CPU time per unit, and the median of each stage's
``timings_ms``. CPU time is the steadier figure on a shared machine: wall time grows with the
load average (printed), CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import goldenvision as gv
from goldenvision.demo import generate_lot


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=12)
    ap.add_argument("--goldens", type=int, default=3)
    ap.add_argument("--size", type=float, default=1.0, help="camera resolution factor (1.0 = 1600 x 1200 px)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2, help="passes over the lot")
    ap.add_argument("--opencv-threads", type=int, default=None, help="OpenCV pool size (default: as OpenCV sets it)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gv-bench-inspector"))
    args = ap.parse_args()

    pkg = args.out / "bench.golden"
    lot_dir = args.out / "lot"
    if pkg.is_file() and lot_dir.is_dir() and len(list(lot_dir.glob("unit_*.png"))) == args.units:
        units = sorted(lot_dir.glob("unit_*.png"))
    else:
        lot = generate_lot(args.out, seed=args.seed, n_golden=args.goldens, n_units=args.units, size=args.size)
        gv.seal([str(p) for p in lot.golden_paths], lot.spec_path).save(pkg)
        units = list(lot.unit_paths)
    golden = gv.load_golden(pkg)

    t0 = time.perf_counter()
    inspector = gv.Inspector(golden, opencv_threads=args.opencv_threads)
    build_ms = (time.perf_counter() - t0) * 1e3
    inspector.inspect(str(units[0]))  # first call: page cache, lazy imports

    load_before = os.getloadavg()[0]
    wall, cpu, stages = [], [], {}
    for _ in range(args.repeat):
        for p in units:
            c0, t0 = time.process_time(), time.perf_counter()
            r = inspector.inspect(str(p), unit_id=p.stem)
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
            for k, v in r.timings_ms.items():
                stages.setdefault(k, []).append(v)
    h, w = golden.shape
    import cv2

    print(f"{len(units)} units x {args.repeat}, golden {w} x {h} px, OpenCV threads {cv2.getNumThreads()}, "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"Inspector built in {build_ms:.0f} ms")
    print(f"per unit: wall median {statistics.median(wall):.1f} ms, CPU median {statistics.median(cpu):.1f} ms")
    print("stage medians, ms: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
