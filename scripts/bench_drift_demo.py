"""Drift on rendered photos: the demo wallet drifting while every unit still passes.

    .venv/bin/python scripts/bench_drift_demo.py [--units 200] [--size 0.5] [--out DIR]

Renders :func:`goldenvision.demo.drifting.generate_drifting_lot` (slow panel darkening from unit
60, slow strap narrowing from unit 80, a darker hide batch from unit 100, three shifts), seals
the golden, judges every photo into a SQLite store with its sidecar context (`batch --db`
path: `goldenvision.batch.inspect_batch`), then runs `goldenvision.drift.detect_drift` over the
store. Prints each alarm (metric, group, rule, first unit of the shift, direction), the first
alarm's lead over the first out-of-tolerance unit (ground truth), whether any alarm fell in the
in-control stretch (before unit 60), and the batch comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--size", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", type=int, default=40, help="Phase I baseline: the first N units")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import goldenvision as gv
    from goldenvision.batch import inspect_batch
    from goldenvision.demo.drifting import generate_drifting_lot
    from goldenvision.drift import detect_drift
    from goldenvision.store import open_store

    out = args.out or Path(tempfile.mkdtemp(prefix="gv-drift-demo-"))
    t0 = time.perf_counter()
    lot = generate_drifting_lot(out, n_units=args.units, size=args.size, seed=args.seed)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    golden.save(out / "golden.golden")
    golden = gv.load_golden(out / "golden.golden")
    store = open_store(f"sqlite:///{out / 'drift.db'}")
    run = inspect_batch(list(lot.unit_paths), golden, out / "results", store=store, context={"lot": "DRIFT-1"})
    t1 = time.perf_counter()
    report = detect_drift(store, product=golden.spec.product, baseline=args.baseline)
    first_oot = lot.first_out_of_tolerance
    verdicts = run.counts
    print(f"{args.units} units rendered and judged in {t1 - t0:.0f} s; verdicts {verdicts}")
    print(f"first out-of-tolerance unit (truth): {first_oot}")
    index = {p.name: i for i, p in enumerate(lot.unit_paths)}
    firsts = []
    for a in report.alarms:
        d = a.to_dict()
        alarm_i = index.get(Path(str(d.get("alarm_unit"))).name)
        first_i = index.get(Path(str(d.get("first_unit"))).name)
        firsts.append((alarm_i, d))
        print(f"  alarm at unit {alarm_i} (shift began at {first_i}): {d['metric']} [{d['group']}] {d['rule']}: "
              f"{d['direction']}; still in tolerance: {d.get('in_tolerance')}")
    alarm_units = [i for i, _ in firsts if i is not None]
    if alarm_units:
        first = min(alarm_units)
        lead = None if first_oot is None else first_oot - first
        print(f"first alarm at unit {first}; lead over the first out-of-tolerance unit: {lead} units")
        print(f"alarms before unit 60 (the in-control stretch): {sum(i < 60 for i in alarm_units)}")
    else:
        print("no alarm")
    for c in report.comparisons:
        print(f"  batch comparison: {c.to_dict().get('words', c.to_dict())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
