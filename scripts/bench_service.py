"""Upload-service throughput: in-process scoring vs a Dask LocalCluster, on the demo lot.

    .venv/bin/python scripts/bench_service.py [--units 32] [--workers 2] [--size 1.0] [--rounds 3] [--compare-arenas]

Renders the demo lot (1600x1200 photos at --size 1.0), seals its golden, then for each mode
(in-process: one scoring thread in the service; Dask: a LocalCluster of --workers processes,
one thread each) starts the service, uploads the golden and every photo of the lot in one
request, and times from the upload until the last photo's result is stored (its ``scored_utc``
in the store, so the client's progress polling does not round the time up). --rounds repeats
the three modes in turn (the order rotated each round) and prints every round and the median:
one round of 32 photos lasts about 5 s on 2 cores, short enough for other work on the machine
to move it by 10 %. Prints photos per second for each mode, the speed-ups, and whether every
mode stored the same verdicts; and, per photo (first round),
the CPU time and minor page faults of the service process and of the cluster's processes
(load-independent where the throughput is not: other work on the machine shows in photos per
second first). --compare-arenas adds a cluster run with glibc's default malloc arenas in the
workers (see goldenvision.service.scoring.WORKER_ENV).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def _proc_counters() -> dict[int, tuple[float, int]]:
    """CPU seconds (user + system) and minor page faults of this process and every descendant
    (the LocalCluster's nannies and workers), by pid, from /proc (Linux; empty elsewhere)."""
    import psutil

    me = psutil.Process()
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            f = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[p.pid] = ((int(f[11]) + int(f[12])) / tick, int(f[7]))  # utime + stime, minflt
    return out


def run(mode: str | None, lot, product: str, pkg: Path, root: Path, poll_s: float,
        tag: str = "") -> tuple[float, dict[str, str], dict[str, float]]:
    from fastapi.testclient import TestClient

    from goldenvision.service import create_app, new_key
    from goldenvision.store import open_store

    d = root / ((mode or "inproc").replace(":", "-") + tag)
    db = f"sqlite:///{d / 'svc.db'}"
    app = create_app(db, d / "data", scheduler=mode)
    key = new_key(app.state.store.engine, "bench", role="admin")[1]
    h = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as c:
        gid = c.post("/api/goldens", headers=h, files={"file": ("g.golden", pkg.read_bytes())}).json()["golden_id"]
        lot_id = c.post("/api/lots", headers=h, json={"product": product, "golden_id": gid,
                                                       "lot_size": 500, "seed": 1}).json()["lot_id"]
        # a running service has its scorer (the Dask cluster) up and each worker's Inspector loaded
        c.app.state.scorer().warm(str(d / "data" / "goldens" / f"{gid}.golden"))
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in lot.unit_paths]
        before = _proc_counters()
        t0_utc = datetime.now(UTC).replace(tzinfo=None)
        t0 = time.perf_counter()
        r = c.post(f"/api/lots/{lot_id}/photos", headers=h, files=files)
        r.raise_for_status()
        print(f"  {mode or 'in-process'}: upload answered after {time.perf_counter() - t0:.2f} s", flush=True)
        n = len(files)
        while True:
            s = c.get(f"/api/lots/{lot_id}", headers=h).json()
            if s["progress"]["scored"] + s["progress"]["failed"] >= n:
                break
            time.sleep(poll_s)
        dt = time.perf_counter() - t0
        after = _proc_counters()
    me = os.getpid()
    delta = {pid: (c - before.get(pid, (0.0, 0))[0], f - before.get(pid, (0.0, 0))[1]) for pid, (c, f) in after.items()}
    cost = {"service_cpu_ms": delta.get(me, (0.0, 0))[0] * 1e3 / n,
            "others_cpu_ms": sum(c for pid, (c, _) in delta.items() if pid != me) * 1e3 / n,
            "service_faults": delta.get(me, (0.0, 0))[1] / n,
            "others_faults": sum(f for pid, (_, f) in delta.items() if pid != me) / n}
    rows = open_store(db).results(lot=lot_id)
    verdicts = {r["file"]: r["verdict"] for r in rows}
    if len(rows) == n:  # the last result's stored time, not the poll that saw it
        last = max(datetime.fromisoformat(r["scored_utc"].rstrip("Z")) for r in rows)
        dt = min(dt, max((last - t0_utc).total_seconds(), 1e-3))
    return n / dt, verdicts, cost


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=float, default=1.0)
    ap.add_argument("--poll", type=float, default=0.25,
                    help="seconds between the client's progress requests (the lot page polls every 1 s)")
    ap.add_argument("--rounds", type=int, default=3, help="times each mode is run; the median is reported")
    ap.add_argument("--compare-arenas", action="store_true",
                    help="also time the cluster with glibc's default malloc arenas in the workers (no MALLOC_ARENA_MAX)")
    args = ap.parse_args(argv)

    import goldenvision as gv
    from goldenvision.demo import generate_lot

    root = Path(tempfile.mkdtemp(prefix="gv-bench-service-"))
    lot = generate_lot(root / "lot", seed=0, n_golden=5, n_units=args.units, size=args.size)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    pkg = root / "golden.golden"
    golden.save(pkg)

    from goldenvision.service import scoring

    la0 = os.getloadavg()[0]
    modes: list[tuple[str, str | None]] = [("inproc", None), ("one", "local:1"), ("dask", f"local:{args.workers}")]
    speeds: dict[str, list[float]] = {k: [] for k, _ in modes}
    costs: dict[str, dict[str, float]] = {}
    verdict_sets: list[dict[str, str]] = []
    for rnd in range(max(1, args.rounds)):
        order = modes[rnd % 3:] + modes[:rnd % 3]
        for name, mode in order:
            sp, v, c = run(mode, lot, golden.spec.product, pkg, root, args.poll, tag=f"-r{rnd}")
            speeds[name].append(sp)
            costs.setdefault(name, c)
            verdict_sets.append(v)
        print(f"  round {rnd + 1}: in-process {speeds['inproc'][-1]:.2f}, 1 worker {speeds['one'][-1]:.2f}, "
              f"{args.workers} workers {speeds['dask'][-1]:.2f} photos/s; speed-up "
              f"{speeds['dask'][-1] / speeds['one'][-1]:.2f}x over 1 worker, "
              f"{speeds['dask'][-1] / speeds['inproc'][-1]:.2f}x over in-process", flush=True)
    inproc, one, dask = (statistics.median(speeds[k]) for k in ("inproc", "one", "dask"))
    up_one = statistics.median(d / o for d, o in zip(speeds["dask"], speeds["one"]))
    up_in = statistics.median(d / i for d, i in zip(speeds["dask"], speeds["inproc"]))
    c1, c0, c2 = costs["inproc"], costs["one"], costs["dask"]
    v1 = verdict_sets[0]
    same = all(v == v1 for v in verdict_sets)
    if args.compare_arenas:  # the same cluster with glibc's default per-thread malloc arenas in the workers
        # Dask's nanny copies its pre-spawn environment into this process's os.environ too, and
        # later workers would inherit it from there: take it out for this run.
        kept, scoring.WORKER_ENV = scoring.WORKER_ENV, {}
        kept_env = {k: os.environ.pop(k) for k in kept if k in os.environ}
        try:
            arenas, v3, c3 = run(f"local:{args.workers}", lot, golden.spec.product, pkg, root, args.poll, tag="-arenas")
        finally:
            scoring.WORKER_ENV = kept
            os.environ.update(kept_env)
        same = same and v3 == v1
    print(f"photos: {args.units} demo units at size {args.size}; cpu count {os.cpu_count()}; "
          f"the client asks for progress every {args.poll} s; load average at start {la0:.2f}")
    print(f"median of {max(1, args.rounds)} rounds:")
    print(f"in-process (1 scoring thread): {inproc:.2f} photos/s")
    print(f"Dask LocalCluster ({args.workers} workers x 1 thread): {dask:.2f} photos/s "
          f"(cluster up and every worker's Inspector loaded before the clock, as in a running service)")
    print(f"Dask LocalCluster (1 worker x 1 thread): {one:.2f} photos/s")
    print(f"speed-up of {args.workers} workers over 1 worker: {up_one:.2f}x; over in-process: {up_in:.2f}x "
          "(in-process scoring already spreads OpenCV and onnxruntime over every core)")
    rows = [("in-process", c1), ("Dask 1 worker", c0), (f"Dask {args.workers} workers", c2)]
    if args.compare_arenas:
        print(f"Dask LocalCluster ({args.workers} workers, glibc's default malloc arenas): {arenas:.2f} photos/s "
              f"({arenas / inproc:.2f}x in-process)")
        rows.append((f"Dask {args.workers} workers, default arenas", c3))
    print("CPU and minor page faults per photo (first round): service process (upload, storing, answering the client; "
          "the scheduler; the scoring too in-process) | Dask nannies and workers")
    for name, c in rows:
        print(f"  {name:32s} service {c['service_cpu_ms']:4.0f} ms, {c['service_faults']:6.0f} faults | "
              f"workers {c['others_cpu_ms']:4.0f} ms, {c['others_faults']:6.0f} faults | "
              f"all {c['service_cpu_ms'] + c['others_cpu_ms']:4.0f} ms")
    print(f"same verdicts in all modes: {same} ({len(v1)} units)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
