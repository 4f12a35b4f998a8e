"""Print ISO 2859-1 plans and OC-curve points, and time the plan lookups.

Usage::

    .venv/bin/python scripts/bench_aql.py [--lot 1000] [--level II] [--aql 2.5]

Prints the normal / tightened / reduced single plans and the normal / tightened / reduced double
plans for the lot, Pa at a few process qualities (binomial), the producer's risk at the
AQL and the quality with Pa = 10 % (LQ10), then the time per ``plan()`` call over every
(lot-size range x level x AQL x severity) combination.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from goldenvision import aql


def lq(plan_, pa_target: float) -> float:
    """Fraction nonconforming where Pa equals ``pa_target`` (bisection on the OC curve)."""
    return float(optimize.brentq(lambda p: aql.oc_curve(plan_, [p], model="binomial")[0] - pa_target, 1e-9, 1 - 1e-9))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lot", type=int, default=1000)
    ap.add_argument("--level", default="II")
    ap.add_argument("--aql", type=float, default=2.5)
    args = ap.parse_args()

    print(f"lot {args.lot}, level {args.level}, AQL {args.aql}: code letter {aql.code_letter(args.lot, args.level)}")
    grid = [0.0, 0.005, 0.01, 0.025, 0.05, 0.10, 0.15, 0.20]
    print("plan                          " + " ".join(f"p={p:<5g}" for p in grid) + "  Pa@AQL  LQ10")
    for sev in aql.SEVERITIES:
        p = aql.plan(args.lot, args.aql, args.level, sev)
        pa = aql.oc_curve(p, grid, model="binomial")
        label = f"single {sev:<9} {p.code_letter} n={p.sample_size:<4} {p.accept}/{p.reject}"
        print(f"{label:<30}" + " ".join(f"{x:7.4f}" for x in pa)
              + f"  {aql.oc_curve(p, [args.aql / 100], model='binomial')[0]:.4f}  {lq(p, 0.10):.4f}")
    for sev in aql.SEVERITIES:
        d = aql.double_plan(args.lot, args.aql, args.level, sev)
        pa = aql.oc_curve(d, grid, model="binomial")
        label = (f"double {sev:<9} {d.code_letter} n={d.first_sample_size}+{d.second_sample_size} "
                 f"{d.accept_1}/{d.reject_1},{d.accept_2}/{d.reject_2}")
        print(f"{label:<30}" + " ".join(f"{x:7.4f}" for x in pa)
              + f"  {aql.oc_curve(d, [args.aql / 100], model='binomial')[0]:.4f}  {lq(d, 0.10):.4f}")

    lots = [2, 9, 16, 26, 51, 91, 151, 281, 501, 1201, 3201, 10001, 35001, 150001, 500001]
    combos = [(n, a, lvl, sev) for n in lots for lvl in aql.LEVELS for a in aql.AQL_COLUMNS for sev in aql.SEVERITIES]
    t0 = time.perf_counter()
    for combo in combos:
        aql.plan(*combo)
    dt = time.perf_counter() - t0
    print(f"plan(): {len(combos)} calls in {dt * 1e3:.1f} ms = {dt / len(combos) * 1e6:.1f} us/call")
    p = aql.plan(args.lot, args.aql, args.level)
    ps = np.linspace(0, 0.3, 10_001)
    t0 = time.perf_counter()
    aql.oc_curve(p, ps)
    print(f"oc_curve(): 10001 points in {(time.perf_counter() - t0) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
