"""Station latency: from a photo landing in the hot folder to its result stored.

    .venv/bin/python scripts/bench_station.py [--units 30] [--size 1.0] [--gap-ms 0] [--out /tmp/gv-station]

Renders the demo lot (1600x1200 camera photos at --size 1.0, about 2 MP), seals its golden,
then runs a real :class:`goldenvision.station.Station` (hot folder + SQLite store, in a thread of
this process) and drops the lot's photos into the folder one at a time, as camera software
does (temporary name, then rename). Each photo is dropped once the previous one is stored
(``--gap-ms`` adds idle time between them), so the figures are the latency of one unit on an
otherwise idle station.

Prints: the file->stored latency (median, p95, max), the per-stage split of the pipeline
(median ms of read, calibration, registration, warp, colour, measure, anomaly), the station's
own overhead (claim, hash, focus check, store write, move), and the peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=30)
    ap.add_argument("--size", type=float, default=1.0, help="camera resolution factor (1.0 = 1600x1200)")
    ap.add_argument("--gap-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import goldenvision as gv
    from goldenvision.demo import generate_lot
    from goldenvision.imageio import read_image
    from goldenvision.station import Station, StationConfig
    from goldenvision.station.runner import golden_id_of
    from goldenvision.store import open_store

    out = args.out or Path(tempfile.mkdtemp(prefix="gv-station-"))
    lot = generate_lot(out / "lot", seed=args.seed, n_golden=5, n_units=args.units, size=args.size)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    golden.save(out / "golden.golden")
    golden = gv.load_golden(out / "golden.golden")
    store = open_store(f"sqlite:///{out / 'results.db'}")
    gid = golden_id_of(golden)
    store.record_golden(gid, golden.spec.product, golden.meta.get("package") or {})
    t0 = time.perf_counter()
    inspector = gv.Inspector(golden)
    load_ms = (time.perf_counter() - t0) * 1e3
    hot = out / "hot"
    station = Station(inspector, store, gid, StationConfig(watch=hot, context={"shift": "A"}))
    runner = threading.Thread(target=station.run, daemon=True)
    runner.start()

    photos = list(lot.unit_paths)
    h, w = read_image(photos[0]).shape[:2]
    for p in photos:
        n_before = station.processed
        tmp = hot / f".{p.name}.part"
        tmp.write_bytes(p.read_bytes())
        os.rename(tmp, hot / p.name)
        station.wake()
        while station.processed == n_before:
            time.sleep(0.001)
        if args.gap_ms:
            time.sleep(args.gap_ms / 1e3)
    station.request_stop()
    runner.join(timeout=30)

    recs = [r for r in station.recent if not r.duplicate][::-1]
    lat = np.array([r.latency_ms for r in recs if r.latency_ms is not None])
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
    print(f"pipeline (UnitResult.timings_ms total): median {np.nanmedian(pipe):.0f} ms, p95 {np.nanpercentile(pipe, 95):.0f} ms")
    print("per stage, median ms: " + ", ".join(
        f"{k} {statistics.median(v):.0f}" for k, v in stages.items() if k != "total"))
    print(f"station overhead (latency - pipeline), median: {np.median(lat - pipe[: lat.size]):.0f} ms")
    print(f"peak resident memory: {rss_mb:.0f} MB")
    print(f"cpu count: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
