#!/usr/bin/env python3
"""Benchmark the results store and SPC drift detection.

1. Run lengths: simulated ARLs of the published designs against the papers
   (EWMA lam=0.5 L=3.071 ARL0 500, Lucas & Saccucci 1990; CUSUM k=0.5 h=4 ARL0 168 and
   8.38 at 1 sigma, Lucas & Crosier 1982) and the Markov-chain values.
2. The drifting lot (goldenvision.store.synthetic.drifting_lot) over many seeds: false alarms
   in the in-control stretch, how the material-batch step is found, and how many units
   before the first out-of-tolerance unit the slow strap and colour drifts alarm.
3. The store: writes per second into SQLite (and PostgreSQL when GV_TEST_PG_URL is set),
   a second identical batch leaving one row per photo, and a results() read.

    .venv/bin/python scripts/bench_drift.py [--runs 20000] [--seeds 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from goldenvision import drift as D  # noqa: E402
from goldenvision.store import open_store  # noqa: E402
from goldenvision.store.synthetic import DriftScenario, as_store_rows, drifting_lot  # noqa: E402


def bench_arl(runs: int) -> dict:
    out = {}
    for name, kw, published in (
        ("ewma lam=0.5 L=3.071 in control", dict(chart="ewma", lam=0.5, L=3.071), 500.0),
        ("cusum k=0.5 h=4 in control", dict(chart="cusum", k=0.5, h=4.0), 168.0),
        ("cusum k=0.5 h=4 shift 1 sigma", dict(chart="cusum", k=0.5, h=4.0, shift_sigma=1.0), 8.38),
    ):
        t = time.perf_counter()
        rl = D.simulate_run_lengths(n_runs=runs, seed=7, **kw)
        dt = time.perf_counter() - t
        markov = (D.ewma_arl(0.5, 3.071) if kw["chart"] == "ewma"
                  else D.cusum_arl(0.5, 4.0, kw.get("shift_sigma", 0.0)))
        out[name] = {"published": published, "simulated": float(rl.mean()),
                     "standard_error": float(rl.std(ddof=1) / np.sqrt(runs)),
                     "relative_error": float(rl.mean() / published - 1), "markov": markov, "runs": runs,
                     "seconds": round(dt, 2)}
    return out


def bench_lot(seeds: int) -> dict:
    sc = DriftScenario()
    colour_only = DriftScenario(batch_change=10**6, dim_drift_start=10**6, color_drift_start=120)
    ic_false, step_delay, step_cp_err, dim_lead, colour_lead, dim_cp_err = [], [], [], [], [], []
    t = time.perf_counter()
    for seed in range(seeds):
        lot = drifting_lot(sc, seed=seed)
        rep = D.detect_drift(as_store_rows(lot))
        ic_false.append(sum(a.alarm_unit_id - 1 <= sc.in_control_end for a in rep.alarms))
        dl = [a for a in rep.alarms if a.metric == "color.panel.dL" and a.alarm_unit_id - 1 >= sc.batch_change]
        if dl:
            a = min(dl, key=lambda a: a.alarm_unit_id)
            step_delay.append(a.alarm_unit_id - 1 - sc.batch_change)
            step_cp_err.append(a.first_unit_id - 1 - sc.batch_change)
        oot = next(i for i, r in enumerate(lot) if not r["dimensions"][0]["ok"])
        dim = [a for a in rep.alarms if a.metric.startswith("dimension.") and a.alarm_unit_id - 1 >= sc.dim_drift_start]
        dim_lead.append(oot - min(a.alarm_unit_id - 1 for a in dim) if dim else None)
        if dim:
            dim_cp_err.append(min(dim, key=lambda a: a.alarm_unit_id).first_unit_id - 1 - sc.dim_drift_start)
        lot2 = drifting_lot(colour_only, seed=seed)
        rep2 = D.detect_drift(as_store_rows(lot2))
        oot2 = next(i for i, r in enumerate(lot2) if not r["color"][0]["ok"])
        col = [a for a in rep2.alarms if a.metric.startswith("color.") and a.alarm_unit_id - 1 >= 120]
        colour_lead.append(oot2 - min(a.alarm_unit_id - 1 for a in col) if col else None)
    dt = time.perf_counter() - t

    def summary(v):
        v = [x for x in v if x is not None]
        return {"n": len(v), "min": min(v), "median": statistics.median(v), "max": max(v)} if v else {"n": 0}

    return {
        "seeds": seeds, "seconds": round(dt, 1),
        "scenario": {"units": sc.n_units, "in_control_end": sc.in_control_end, "batch_change": sc.batch_change,
                     "batch_step_dl": sc.batch_step_dl, "dim_drift_start": sc.dim_drift_start,
                     "dim_slope_mm_per_unit": sc.dim_slope_mm, "colour_only_drift_start": 120,
                     "color_slope_dl_per_unit": colour_only.color_slope_dl},
        "lots_with_in_control_false_alarm": sum(n > 0 for n in ic_false),
        "batch_step_alarm_delay_units": summary(step_delay),
        "batch_step_change_point_error_units": summary(step_cp_err),
        "strap_drift_alarm_lead_units_before_first_out_of_tolerance": summary(dim_lead),
        "strap_drift_change_point_error_units": summary(dim_cp_err),
        "lots_missing_strap_alarm": sum(v is None for v in dim_lead),
        "colour_drift_alarm_lead_units_before_first_out_of_tolerance": summary(colour_lead),
        "lots_missing_colour_alarm": sum(v is None for v in colour_lead),
        "lots_with_strap_lead_below_20": sum(v is not None and v < 20 for v in dim_lead),
        "lots_with_colour_lead_below_20": sum(v is not None and v < 20 for v in colour_lead),
    }


def bench_store(url: str, n: int) -> dict:
    lot = drifting_lot(DriftScenario(n_units=n), seed=0)
    store = open_store(url)
    t = time.perf_counter()
    for r in lot:
        store.record_result(r)
    first = time.perf_counter() - t
    t = time.perf_counter()
    for r in lot:
        store.record_result(r)
    second = time.perf_counter() - t
    t = time.perf_counter()
    rows = store.results()
    read = time.perf_counter() - t
    out = {"url": store.url, "units": n, "rows_after_two_runs": store.count(), "first_run_s": round(first, 2),
           "writes_per_s": round(n / first, 1), "rescore_run_s": round(second, 2), "results_read_s": round(read, 2),
           "rows_read": len(rows)}
    store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20000, help="simulated runs per ARL")
    ap.add_argument("--seeds", type=int, default=50, help="simulated drifting lots")
    ap.add_argument("--units", type=int, default=320, help="units written to the store")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {"arl": bench_arl(args.runs), "drifting_lot": bench_lot(args.seeds)}
    with tempfile.TemporaryDirectory() as d:
        report["store"] = [bench_store(f"sqlite:///{Path(d) / 'bench.db'}", args.units)]
    pg = os.environ.get("GV_TEST_PG_URL")
    if pg:
        import sqlalchemy as sa

        eng = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS gv_bench WITH (FORCE)"))
            c.execute(sa.text("CREATE DATABASE gv_bench"))
        report["store"].append(bench_store(sa.engine.make_url(pg).set(database="gv_bench")
                                           .render_as_string(hide_password=False), args.units))
        with eng.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS gv_bench WITH (FORCE)"))
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for name, r in report["arl"].items():
        print(f"ARL {name}: simulated {r['simulated']:.2f} ± {r['standard_error']:.2f} ({r['runs']} runs), "
              f"published {r['published']}, Markov {r['markov']:.2f}, error {100 * r['relative_error']:+.1f} %, "
              f"{r['seconds']} s")
    lot = report["drifting_lot"]
    print(f"drifting lot, {lot['seeds']} seeds ({lot['seconds']} s): scenario {lot['scenario']}")
    for k, v in lot.items():
        if k not in ("seeds", "seconds", "scenario"):
            print(f"  {k}: {v}")
    for s in report["store"]:
        print(f"store {s['url']}: {s['units']} units, {s['writes_per_s']} writes/s, re-run {s['rescore_run_s']} s, "
              f"rows after two runs {s['rows_after_two_runs']}, results() {s['results_read_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
