"""Station latency: from a photo landing in the hot folder to its result stored.

    .venv/bin/python scripts/bench_station.py [--units 30] [--size 1.0] [--gap-ms 0] [--out DIR]
        [--save-results A.json] [--compare B.json]

Phase 1 (this process): renders the demo lot (1600x1200 camera photos at --size 1.0, about
2 MP) and seals its golden into ``--out`` (both are reused when ``--out`` already holds them
for the same --units/--size/--seed). Phase 2 (a fresh child process, so that its peak resident
memory is the station's own, without rendering or sealing): loads the golden, runs a real
:class:`goldenvision.station.Station` (hot folder + SQLite store, in a thread) and drops the
lot's photos into the folder one at a time, as camera software does (temporary name, then
rename). Each photo is dropped once the previous one is stored (``--gap-ms`` adds idle time
between them), so the figures are the latency of one unit on an otherwise idle station.

Prints: the file->stored latency (median, p95, max), the per-stage split of the pipeline
(median ms of read, calibration, registration, warp, colour, measure, anomaly), the station's
own overhead (claim, decode, hash, focus check, store write, move), and the station process's
peak resident memory.

``--save-results`` writes every unit's verdict, colour ΔE and dimensions to a JSON file;
``--compare`` checks them against such a file (e.g. one written by the same script run with
an older checkout's interpreter: ``OLD/.venv/bin/python scripts/bench_station.py --out DIR
--save-results old.json``, then this checkout with ``--out DIR --compare old.json``, both on
the same lot and golden) and prints whether verdicts are identical, colour ΔE agree within
0.01 and dimensions within 0.005 mm; it exits 1 when they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DE_TOL = 0.01  # CIEDE2000 units
MM_TOL = 0.005  # mm


def _prepare(out: Path, units: int, size: float, seed: int) -> None:
    """Render the lot and seal its golden into ``out`` unless they are there already."""
    import goldenvision as gv
    from goldenvision.demo import generate_lot

    stamp = out / "bench_lot.json"
    key = {"units": units, "size": size, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == key and (out / "golden.golden").is_file():
        return
    lot = generate_lot(out / "lot", seed=seed, n_golden=5, n_units=units, size=size)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    golden.save(out / "golden.golden")
    (out / "units.json").write_text(json.dumps([str(p) for p in lot.unit_paths]))
    stamp.write_text(json.dumps(key))


def _summary(result: Any) -> dict[str, Any]:
    """What must not change when the pipeline gets faster."""
    return {
        "verdict": str(result.verdict.value if hasattr(result.verdict, "value") else result.verdict),
        "reasons": list(result.reasons),
        "color": {c.name: [c.delta_e_golden, c.delta_e_target] for c in result.color},
        "dimensions": {d.name: d.measured_mm for d in result.dimensions},
        "anomaly_score": result.anomaly_score,
    }


def _compare(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Print how the per-unit results differ; True when within tolerance."""
    bad: list[str] = []
    max_de = max_mm = max_anom = 0.0
    for unit in sorted(set(new) | set(old)):
        a, b = new.get(unit), old.get(unit)
        if a is None or b is None:
            bad.append(f"{unit}: only in {'old' if a is None else 'new'} results")
            continue
        if a["verdict"] != b["verdict"]:
            bad.append(f"{unit}: verdict {b['verdict']} -> {a['verdict']}")
        for zone in set(a["color"]) | set(b["color"]):
            for x, y in zip(a["color"].get(zone, [None, None]), b["color"].get(zone, [None, None]), strict=True):
                if (x is None) != (y is None):
                    bad.append(f"{unit}: colour {zone} judged in one run only")
                elif x is not None and y is not None:
                    max_de = max(max_de, abs(x - y))
        for dim in set(a["dimensions"]) | set(b["dimensions"]):
            x, y = a["dimensions"].get(dim), b["dimensions"].get(dim)
            if x is None or y is None:
                bad.append(f"{unit}: dimension {dim} measured in one run only")
            else:
                max_mm = max(max_mm, abs(x - y))
        if a["anomaly_score"] is not None and b["anomaly_score"] is not None:
            max_anom = max(max_anom, abs(a["anomaly_score"] - b["anomaly_score"]))
    ok = not bad and max_de <= DE_TOL and max_mm <= MM_TOL
    n_same = sum(1 for u in new if u in old and new[u]["verdict"] == old[u]["verdict"])
    print(f"compare with the saved results: {n_same}/{len(old)} verdicts identical, max |ΔΔE00| {max_de:.4f} "
          f"(tol {DE_TOL}), max |Δ dimension| {max_mm:.4f} mm (tol {MM_TOL}), max |Δ anomaly score| {max_anom:.4f} "
          f"-> {'SAME' if ok else 'DIFFERENT'}")
    for line in bad[:20]:
        print("  " + line)
    return ok


def _station_phase(args: argparse.Namespace) -> int:
    import goldenvision as gv
    from goldenvision.imageio import read_image
    from goldenvision.station import Station, StationConfig
    from goldenvision.station.runner import golden_id_of
    from goldenvision.store import open_store

    out: Path = args.out
    golden = gv.load_golden(out / "golden.golden")
    db = out / "results.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    gid = golden_id_of(golden)
    store.record_golden(gid, golden.spec.product, golden.meta.get("package") or {})
    t0 = time.perf_counter()
    try:  # as goldenvision station sets it (an older checkout has neither)
        from goldenvision.station.runner import STATION_BLAS_THREADS

        inspector = gv.Inspector(golden, blas_threads=STATION_BLAS_THREADS)
    except ImportError:
        inspector = gv.Inspector(golden)
    load_ms = (time.perf_counter() - t0) * 1e3
    results: dict[str, Any] = {}
    inspect = inspector.inspect

    def recording_inspect(*a: Any, **kw: Any) -> Any:
        r = inspect(*a, **kw)
        results[str(kw.get("unit_id"))] = _summary(r)  # not the result: its maps would count as the station's memory
        return r

    inspector.inspect = recording_inspect  # type: ignore[method-assign]
    hot = out / "hot"
    if hot.exists():
        import shutil

        shutil.rmtree(hot)
    station = Station(inspector, store, gid, StationConfig(watch=hot, context={"shift": "A"}))
    runner = threading.Thread(target=station.run, daemon=True)
    runner.start()

    photos = [Path(p) for p in json.loads((out / "units.json").read_text())]
    h, w = read_image(photos[0]).shape[:2]
    landed: dict[str, float] = {}
    for p in photos:
        n_before = station.processed
        tmp = hot / f".{p.name}.part"
        tmp.write_bytes(p.read_bytes())
        os.rename(tmp, hot / p.name)
        landed[p.name] = time.time()
        station.wake()
        while station.processed == n_before:
            time.sleep(0.001)
        if args.gap_ms:
            time.sleep(args.gap_ms / 1e3)
    station.request_stop()
    runner.join(timeout=30)

    recs = [r for r in station.recent if not r.duplicate][::-1]
    # from the rename into the hot folder (taken here) to the result committed (the station's clock)
    lat = np.array([(r.stored_utc - landed[r.file]) * 1e3 for r in recs if r.file in landed])
    stages: dict[str, list[float]] = {}
    for r in recs:
        for k, v in r.timings_ms.items():
            stages.setdefault(k, []).append(v)
    pipe = np.array(stages.get("total", [np.nan]))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"photos: {len(recs)} of {len(photos)} ({w}x{h} px, {w * h / 1e6:.1f} MP), verdicts "
          f"{ {v: sum(r.verdict == v for r in recs) for v in ('pass', 'fail', 'review')} }")
    print(f"Inspector load (once per golden): {load_ms:.0f} ms")
    print(f"file -> stored latency: median {np.median(lat):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, "
          f"max {lat.max():.0f} ms (n={lat.size})")
    print(f"pipeline (UnitResult.timings_ms total): median {np.nanmedian(pipe):.0f} ms, "
          f"p95 {np.nanpercentile(pipe, 95):.0f} ms")
    print("per stage, median ms: " + ", ".join(
        f"{k} {statistics.median(v):.0f}" for k, v in stages.items() if k != "total"))
    print(f"station overhead (latency - pipeline), median: {np.median(lat - pipe[: lat.size]):.0f} ms")
    print(f"station process peak resident memory (no rendering or sealing in it): {rss_mb:.0f} MB")
    print(f"cpu count: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.2f}")

    summary = results
    if args.save_results:
        args.save_results.write_text(json.dumps(summary, indent=1, sort_keys=True))
        print(f"per-unit results written to {args.save_results}")
    if args.compare:
        ok = _compare(summary, json.loads(args.compare.read_text()))
        return 0 if ok else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=30)
    ap.add_argument("--size", type=float, default=1.0, help="camera resolution factor (1.0 = 1600x1200)")
    ap.add_argument("--gap-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="working folder (lot and golden are reused)")
    ap.add_argument("--save-results", type=Path, default=None, help="write per-unit results (JSON)")
    ap.add_argument("--compare", type=Path, default=None, help="compare per-unit results with this JSON")
    ap.add_argument("--station-phase", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.station_phase:
        return _station_phase(args)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="gv-station-"))
    args.out.mkdir(parents=True, exist_ok=True)
    _prepare(args.out, args.units, args.size, args.seed)
    cmd = [sys.executable, os.path.abspath(__file__), "--station-phase", "--out", str(args.out),
           "--gap-ms", str(args.gap_ms)]
    if args.save_results:
        cmd += ["--save-results", str(args.save_results.resolve())]
    if args.compare:
        cmd += ["--compare", str(args.compare.resolve())]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
