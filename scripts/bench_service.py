"""Upload-service throughput: in-process scoring vs a Dask LocalCluster, on the demo lot.

    .venv/bin/python scripts/bench_service.py [--units 24] [--workers 2] [--size 1.0]

Renders the demo lot (1600x1200 photos at --size 1.0), seals its golden, then for each mode
(in-process: one scoring thread in the service; Dask: a LocalCluster of --workers processes,
one thread each) starts the service, uploads the golden and every photo of the lot in one
request, and times from the upload until every photo is scored and stored. Prints photos per
second for both modes, the speed-up, and whether both stored the same verdicts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def run(mode: str | None, lot, product: str, pkg: Path, root: Path, poll_s: float) -> tuple[float, dict[str, str], float]:
    from fastapi.testclient import TestClient

    from goldenvision.service import create_app, new_key
    from goldenvision.store import open_store

    d = root / (mode or "inproc").replace(":", "-")
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
        t0 = time.perf_counter()
        c0 = time.process_time()
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
        cpu = time.process_time() - c0
    verdicts = {r["file"]: r["verdict"] for r in open_store(db).results(lot=lot_id)}
    return n / dt, verdicts, cpu * 1e3 / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=float, default=1.0)
    ap.add_argument("--poll", type=float, default=0.25,
                    help="seconds between the client's progress requests (the lot page polls every 1 s)")
    args = ap.parse_args(argv)

    import goldenvision as gv
    from goldenvision.demo import generate_lot

    root = Path(tempfile.mkdtemp(prefix="gv-bench-service-"))
    lot = generate_lot(root / "lot", seed=0, n_golden=5, n_units=args.units, size=args.size)
    golden = gv.seal([str(p) for p in lot.golden_paths], lot.spec_path)
    pkg = root / "golden.golden"
    golden.save(pkg)

    inproc, v1, cpu1 = run(None, lot, golden.spec.product, pkg, root, args.poll)
    one, v0, cpu0 = run("local:1", lot, golden.spec.product, pkg, root, args.poll)
    dask, v2, cpu2 = run(f"local:{args.workers}", lot, golden.spec.product, pkg, root, args.poll)
    print(f"photos: {args.units} demo units at size {args.size}; cpu count {os.cpu_count()}; "
          f"the client asks for progress every {args.poll} s")
    print(f"in-process (1 scoring thread): {inproc:.2f} photos/s")
    print(f"Dask LocalCluster ({args.workers} workers x 1 thread): {dask:.2f} photos/s "
          f"(cluster up and every worker's Inspector loaded before the clock, as in a running service)")
    print(f"Dask LocalCluster (1 worker x 1 thread): {one:.2f} photos/s")
    print(f"speed-up of {args.workers} workers over 1 worker: {dask / one:.2f}x; over in-process: {dask / inproc:.2f}x "
          "(in-process scoring already spreads OpenCV and onnxruntime over every core)")
    print(f"service process CPU per photo (upload, storing, answering the client; scoring excluded with Dask): "
          f"in-process {cpu1:.0f} ms (scoring included), Dask 1 worker {cpu0:.0f} ms, Dask {args.workers} workers {cpu2:.0f} ms")
    print(f"same verdicts in all three: {v1 == v2 == v0} ({len(v1)} units)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
