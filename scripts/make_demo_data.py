"""Generate a demo lot (spec, golden captures, production units, ground truth) and print a summary.

Usage: python scripts/make_demo_data.py [out_dir] [seed] [size] [--family F] [--mode station|handheld]
(defaults: demo-data, 0, 1.0, the wallet in the station; 5 golden captures, 40 units).
Families: wallet, and the zoo's (goldenvision.demo.FAMILY_NAMES).
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from goldenvision.demo import FAMILY_NAMES, generate_lot


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="demo-data", type=Path)
    ap.add_argument("seed", nargs="?", default=0, type=int)
    ap.add_argument("size", nargs="?", default=1.0, type=float)
    ap.add_argument("--family", default="wallet", choices=FAMILY_NAMES)
    ap.add_argument("--mode", default="station", choices=("station", "handheld"))
    ap.add_argument("--n-golden", type=int, default=5)
    ap.add_argument("--n-units", type=int, default=40)
    a = ap.parse_args()
    t0 = time.perf_counter()
    lot = generate_lot(a.out, seed=a.seed, n_golden=a.n_golden, n_units=a.n_units, size=a.size, family=a.family,
                       mode=a.mode)
    dt = time.perf_counter() - t0
    units = lot.truth["units"]
    faults = collections.Counter(u["fault"] for u in units)
    w, h = lot.truth["image_size_px"]
    print(f"demo lot {a.family}/{a.mode} in {a.out} (seed {a.seed}, {w}x{h} px, {lot.truth['scale_mm_per_px']:.4f} mm/px): "
          f"{len(lot.golden_paths)} golden captures, {len(units)} units in {dt:.1f} s")
    print(f"expected verdicts: pass {lot.truth['n_pass']}, fail {lot.truth['n_fail']}")
    print("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    for u in units:
        if u["expected_verdict"] == "fail":
            print(f"  {u['unit_id']}: {u['fault_detail']:<48} -> {', '.join(u['failing_checks'])}")
    print(f"spec: {lot.spec_path}\ntruth: {lot.truth_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
