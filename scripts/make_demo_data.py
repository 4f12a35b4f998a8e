"""Generate the demo lot (spec, golden captures, production units, ground truth) and print a summary.

Usage: python scripts/make_demo_data.py [out_dir] [seed] [size]
(defaults: demo-data, 0, 1.0; 5 golden captures, 40 units).
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

from goldenvision.demo import generate_lot


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-data")
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    size = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    t0 = time.perf_counter()
    lot = generate_lot(out, seed=seed, n_golden=5, n_units=40, size=size)
    dt = time.perf_counter() - t0
    units = lot.truth["units"]
    faults = collections.Counter(u["fault"] for u in units)
    w, h = lot.truth["image_size_px"]
    print(f"demo lot in {out} (seed {seed}, {w}x{h} px, {lot.truth['scale_mm_per_px']:.4f} mm/px): "
          f"{len(lot.golden_paths)} golden captures, {len(units)} units in {dt:.1f} s")
    print(f"expected verdicts: pass {lot.truth['n_pass']}, fail {lot.truth['n_fail']}")
    print("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    for u in units:
        if u["expected_verdict"] == "fail":
            print(f"  {u['unit_id']}: {u['fault_detail']:<40} -> {', '.join(u['failing_checks'])}")
    print(f"spec: {lot.spec_path}\ntruth: {lot.truth_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
