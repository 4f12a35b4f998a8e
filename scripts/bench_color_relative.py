"""Colour stage without a chart (relative to the golden): time per unit and the results it gives.

    .venv/bin/python scripts/bench_color_relative.py [--family wallet] [--mode handheld] [--units 8]
        [--goldens 3] [--size 0.6] [--repeat 5] [--seed 0] [--out /tmp/gv-bench-color] [--json results.json]

Generates a demo lot, seals it, builds an Inspector and inspects every unit once, recording the
inputs the Inspector hands to :func:`goldenvision.color.relative.judge_colors` (the warped unit, its
valid mask, the golden reference, ...). Then, per unit, it times ``judge_colors`` alone on those
inputs (median of ``--repeat`` calls; the first call on a golden is reported apart, since what
depends only on the golden may be computed there) and prints each zone's result against the demo's
ground truth. ``--json`` writes every zone's numbers, so two versions of the colour code can be
compared unit by unit (run this script with each version on the same lot arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import goldenvision as gv
import goldenvision.pipeline as pipeline
from goldenvision.color import delta_e_2000
from goldenvision.demo import generate_lot


def status(c: Any) -> str:
    """pass, review (out by no more than its uncertainty) or fail."""
    return "pass" if c.ok else "review" if c.within_uncertainty else "fail"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="wallet")
    ap.add_argument("--mode", default="handheld", choices=("station", "handheld"))
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--goldens", type=int, default=3)
    ap.add_argument("--size", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5, help="timed calls of judge_colors per unit")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gv-bench-color"))
    ap.add_argument("--json", type=Path, default=None, help="write every zone's result here")
    args = ap.parse_args()

    lot = generate_lot(args.out, seed=args.seed, n_golden=args.goldens, n_units=args.units, size=args.size,
                       family=args.family, mode=args.mode)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    golden.save(args.out / "bench.golden")
    golden = gv.load_golden(args.out / "bench.golden")

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real = pipeline.judge_colors

    def recording(*a: Any, **kw: Any) -> Any:
        calls.append((a, kw))
        return real(*a, **kw)

    t0 = time.perf_counter()
    inspector = gv.Inspector(golden)
    t_load = 1e3 * (time.perf_counter() - t0)
    pipeline.judge_colors = recording  # type: ignore[assignment]
    try:
        stems, stage_ms = [], []
        for p in lot.unit_paths:
            n = len(calls)
            r = inspector.inspect(str(p), unit_id=p.stem)
            if len(calls) > n:
                stems.append(p.stem)
                stage_ms.append(r.timings_ms.get("color", float("nan")))
    finally:
        pipeline.judge_colors = real  # type: ignore[assignment]
    print(f"{args.family} {args.mode}: {len(lot.unit_paths)} units, {len(calls)} reached the colour stage; "
          f"Inspector built in {t_load:.0f} ms")
    if not calls:
        return 0

    truth = {u["unit_id"]: u for u in lot.truth["units"]}
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    cpus: list[float] = []  # process CPU time (less sensitive to other processes on the machine)
    errs: list[float] = []
    print("unit       colour-stage ms (in inspect | judge_colors median wall, cpu)  zones: name dE00-vs-truth "
          "dE-golden unc status")
    for stem, ms_inspect, (a, kw) in zip(stems, stage_ms, calls):
        ts, cs = [], []
        for _ in range(max(args.repeat, 1)):
            t, c = time.perf_counter(), time.process_time()
            res = real(*a, **kw)
            ts.append(1e3 * (time.perf_counter() - t))
            cs.append(1e3 * (time.process_time() - c))
        times.append(statistics.median(ts))
        cpus.append(statistics.median(cs))
        parts = []
        for c in res:
            tz = truth[stem]["colors"].get(c.name)
            e = float(delta_e_2000(np.asarray(c.lab), np.asarray(tz["lab"]))) if tz is not None else float("nan")
            if tz is not None:
                errs.append(e)
            parts.append(f"{c.name} {e:.2f} {c.delta_e_golden:.2f} {c.uncertainty_de00 or 0:.2f} {status(c)}")
            rows.append({"unit": stem, "zone": c.name, "lab": [float(x) for x in c.lab],
                         "delta_e_golden": c.delta_e_golden, "uncertainty_de00": c.uncertainty_de00,
                         "status": status(c), "reference": c.reference, "error_vs_truth": e,
                         "expected": truth[stem]["expected_verdict"], "failing_checks": truth[stem]["failing_checks"]})
        print(f"{stem:<10} {ms_inspect:8.1f} | {times[-1]:8.1f} {cpus[-1]:8.1f}   " + "; ".join(parts))
    print(f"colour stage per unit, ms: wall median {statistics.median(times):.1f}, max {max(times):.1f}; "
          f"cpu median {statistics.median(cpus):.1f}, max {max(cpus):.1f} (judge_colors alone, median of "
          f"{args.repeat} calls); in inspect (wall): first unit {stage_ms[0]:.1f}, median {statistics.median(stage_ms):.1f}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if errs:
        print(f"colour error vs truth (ΔE00), all zones: mean {np.mean(errs):.3f} max {np.max(errs):.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
