"""Baseline of the public API on the demo zoo: gv.seal on the golden captures, gv.inspect on every unit.

Usage: python scripts/bench_zoo_baseline.py FAMILY MODE [--size 1.0] [--seed 0] [--n-golden 4] [--n-units 20]

Prints the verdict confusion (truth pass/fail x verdict pass/fail/review), the defects found at
their place (a result defect box overlapping the truth box), colour and dimension errors
against the truth, and the time per unit. A baseline, not a tuning target: the pipeline was
built on the wallet in the station.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np

import goldenvision as gv
from goldenvision.demo import FAMILY_NAMES, generate_lot


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("family", choices=FAMILY_NAMES)
    ap.add_argument("mode", choices=("station", "handheld"))
    ap.add_argument("--size", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-golden", type=int, default=4)
    ap.add_argument("--n-units", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        lot = generate_lot(Path(d), family=a.family, mode=a.mode, seed=a.seed, n_golden=a.n_golden, n_units=a.n_units,
                           size=a.size)
        spec = gv.load_spec(lot.spec_path)
        t0 = time.perf_counter()
        try:
            golden = gv.seal([str(p) for p in lot.golden_paths], spec)
        except Exception as exc:  # noqa: BLE001 - a baseline reports what the user meets
            print(f"{a.family}/{a.mode}: seal failed: {type(exc).__name__}: {exc}")
            return 1
        t_seal = time.perf_counter() - t0
        conf: collections.Counter = collections.Counter()
        found = missed = 0
        de_err, dim_err, times = [], [], []
        rows = []
        for path, truth in zip(lot.unit_paths, lot.truth["units"]):
            t0 = time.perf_counter()
            r = gv.inspect(str(path), golden)
            times.append(time.perf_counter() - t0)
            conf[(truth["expected_verdict"], str(r.verdict))] += 1
            for td in truth["defects"]:
                if any(_overlap(rd.bbox, td["bbox"]) for rd in r.defects):
                    found += 1
                else:
                    missed += 1
            for c in r.color:
                if c.name in truth["colors"] and np.all(np.isfinite(c.lab)):
                    de_err.append(float(gv.delta_e_2000(c.lab, truth["colors"][c.name]["lab"])))
            for dm in r.dimensions:
                if dm.name in truth["dimensions"] and dm.measured_mm is not None and np.isfinite(dm.measured_mm):
                    dim_err.append(abs(dm.measured_mm - truth["dimensions"][dm.name]))
            rows.append(f"  {truth['unit_id']} truth {truth['expected_verdict']:<4} got {str(r.verdict):<6} "
                        f"{truth['fault']:<14} {'; '.join(r.reasons)[:110]}")
    print(f"{a.family}/{a.mode} size {a.size} seed {a.seed}: seal {t_seal:.1f} s, inspect {np.mean(times):.2f} s/unit")
    print("verdict confusion (truth -> got): " + ", ".join(f"{t}->{g} {n}" for (t, g), n in sorted(conf.items())))
    print(f"defects found at their place {found}, missed {missed}")
    if de_err:
        print(f"colour error vs truth: mean {np.mean(de_err):.2f}, max {np.max(de_err):.2f} dE00")
    if dim_err:
        print(f"dimension error vs truth: mean {np.mean(dim_err):.3f}, max {np.max(dim_err):.3f} mm")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
