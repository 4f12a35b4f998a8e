"""The upload service: goldens, lots, photos, verdicts, reports; in-process and on Dask."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from goldenvision.service import create_app, new_key
from goldenvision.store import open_store
from synthetic import SPEC, defective, png_bytes, product


@pytest.fixture(scope="module")
def golden_pkg(tiny_golden_pkg) -> Path:
    return tiny_golden_pkg


@pytest.fixture()
def service(tmp_path):
    db = f"sqlite:///{tmp_path / 'svc.db'}"
    app = create_app(db, tmp_path / "data")
    engine = app.state.store.engine
    keys = {
        "admin": new_key(engine, "buyer QC", role="admin")[1],
        "insp": new_key(engine, "inspector A", role="inspector", scopes=[f"product:{SPEC['product']}"])[1],
        "viewer": new_key(engine, "viewer", role="viewer", scopes=[f"product:{SPEC['product']}"])[1],
        "other": new_key(engine, "other product", role="inspector", scopes=["product:handbag"])[1],
    }
    with TestClient(app) as client:
        yield client, keys, db


def auth(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


def upload_golden(client, key, pkg: Path) -> str:
    r = client.post("/api/goldens", headers=auth(key), files={"file": ("tiny.golden", pkg.read_bytes())})
    assert r.status_code == 200, r.text
    return r.json()["golden_id"]


def wait_scored(client, key, lot_id, n, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = client.get(f"/api/lots/{lot_id}", headers=auth(key)).json()
        if s["progress"]["scored"] >= n:
            return s
        time.sleep(0.1)
    raise AssertionError(f"only {s['progress']} scored after {timeout} s")


def test_golden_lot_photos_verdicts_and_report(service, golden_pkg):
    client, keys, db = service
    gid = upload_golden(client, keys["insp"], golden_pkg)
    r = client.post("/api/lots", headers=auth(keys["insp"]),
                    json={"product": SPEC["product"], "golden_id": gid, "lot_size": 60, "supplier": "ACME", "po": "PO-1",
                          "type": "dupro", "seed": 7})
    assert r.status_code == 200, r.text
    lot = r.json()
    # ISO 2859-1, lot of 60 at level II: code letter E; AQL 2.5 there points down to F (n 20, Ac 1, Re 2)
    assert lot["plan"]["major"] == {"code_letter": "F", "sample_size": 20, "accept": 1, "reject": 2, "aql": 2.5}
    assert lot["sample_size"] == 20
    assert len(set(lot["sample"])) == 20 and all(1 <= int(u) <= 60 for u in lot["sample"])
    photos = [(f"good{i}.png", png_bytes(product(100 + i, (1.5, -1)))) for i in range(19)]
    photos.append(("stain.png", png_bytes(defective(200))))
    r = client.post(f"/api/lots/{lot['lot_id']}/photos", headers=auth(keys["insp"]),
                    files=[("files", (n, b, "image/png")) for n, b in photos])
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == 20 and r.json()["rejected"] == []
    s = wait_scored(client, keys["viewer"], lot["lot_id"], 20)
    verdicts = {u["file"]: u["verdict"] for u in s["units"]}
    assert verdicts["stain.png"] == "fail" and all(verdicts[f"good{i}.png"] == "pass" for i in range(19))
    # one major nonconforming unit in 20 against Ac 1: accept
    assert s["lot_verdict"]["decision"] == "accept"
    # re-uploading the same bytes duplicates nothing
    r = client.post(f"/api/lots/{lot['lot_id']}/photos", headers=auth(keys["insp"]),
                    files=[("files", ("again.png", photos[0][1], "image/png"))])
    assert r.json()["accepted"][0]["duplicate"] is True
    assert len(open_store(db).results(lot=lot["lot_id"])) == 20
    html = client.get(f"/api/lots/{lot['lot_id']}/report", headers=auth(keys["viewer"]))
    assert html.status_code == 200 and "stain.png" in html.text
    ev = client.get(f"/api/lots/{lot['lot_id']}/units/{s['units'][-1]['image_sha256']}/evidence.jpg", headers=auth(keys["viewer"]))
    assert ev.status_code == 200 and ev.content[:2] == b"\xff\xd8"


def test_twenty_four_concurrent_uploads_to_one_lot_on_a_real_server(tmp_path, golden_pkg):
    from browser import serve

    n = 24

    db = f"sqlite:///{tmp_path / 'svc.db'}"
    app = create_app(db, tmp_path / "data")
    key = new_key(app.state.store.engine, "inspector", role="inspector")[1]
    base, stop = serve(app)  # returns once uvicorn has started
    try:
        with httpx.Client(base_url=base, headers=auth(key), timeout=60) as c:
            gid = c.post("/api/goldens", files={"file": ("g.golden", golden_pkg.read_bytes())}).json()["golden_id"]
            lot_id = c.post("/api/lots", json={"product": SPEC["product"], "golden_id": gid, "lot_size": 1000}).json()["lot_id"]
        blobs = [png_bytes(product(500 + i, (1, 1))) for i in range(n)]
        codes: list[int] = []
        ready = threading.Barrier(n)

        def send(i: int) -> None:
            with httpx.Client(base_url=base, headers=auth(key), timeout=120) as c:
                ready.wait(timeout=60)  # every upload starts at once
                r = c.post(f"/api/lots/{lot_id}/photos", files={"files": (f"u{i:02d}.png", blobs[i], "image/png")})
                codes.append(r.status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(codes)) == [200], codes
        with httpx.Client(base_url=base, headers=auth(key), timeout=60) as c:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                s = c.get(f"/api/lots/{lot_id}").json()
                if s["progress"]["scored"] == n:
                    break
                time.sleep(0.1)
        assert s["progress"] == {"received": n, "scored": n, "sample_size": 80, "failed": 0}
        assert sum(u["verdict"] is not None for u in s["units"]) == n
    finally:
        stop()


def test_a_service_lot_with_a_po_joins_its_order(service, golden_pkg, tmp_path):
    from goldenvision.orders import new_order, show_order

    client, keys, db = service
    gid = upload_golden(client, keys["admin"], golden_pkg)
    st = open_store(db)
    new_order(st, "PO-9", supplier="ACME", product=SPEC["product"], quantity=100, golden_path=golden_pkg)
    lot = client.post("/api/lots", headers=auth(keys["insp"]), json={"product": SPEC["product"], "golden_id": gid,
                                                                      "lot_size": 8, "po": "PO-9", "seed": 1}).json()
    client.post(f"/api/lots/{lot['lot_id']}/photos", headers=auth(keys["insp"]),
                files=[("files", (f"u{i}.png", png_bytes(product(600 + i, (1, 0))), "image/png")) for i in range(8)])
    s = wait_scored(client, keys["insp"], lot["lot_id"], lot["sample_size"])
    assert s["lot_verdict"]["decision"] == "accept"
    events = [e for e in show_order(st, "PO-9")["timeline"] if e["kind"] == "lot"]
    assert [e["lot"]["verdict"]["decision"] for e in events] == ["pending", "accept"]
    assert all(e["lot"]["lot_id"] == lot["lot_id"] for e in events)


def test_a_worker_sizes_the_shared_backbone_session_to_one_thread():
    pytest.importorskip("onnxruntime")
    from goldenvision.anomaly.backbone import backbone_available, get_backbone, set_backbone_threads

    if not backbone_available():
        pytest.skip("the shipped backbone is not available")
    before = get_backbone().threads
    try:
        set_backbone_threads(1)
        one = get_backbone()
        assert one.threads == 1
        set_backbone_threads(1)
        assert get_backbone() is one  # not rebuilt when the size is unchanged
        with pytest.raises(ValueError):
            set_backbone_threads(0)
    finally:
        set_backbone_threads(before)
    assert get_backbone().threads == before


def test_local_cluster_workers_use_one_malloc_arena_and_glibc_trim_defaults():
    """The LocalCluster's workers start with MALLOC_ARENA_MAX=1 (see scoring.WORKER_ENV), without
    the fixed trim threshold Dask's nanny sets by default, and without Dask's profiler."""
    import os

    from goldenvision.service.scoring import WORKER_ENV, DaskScorer

    assert WORKER_ENV.get("MALLOC_ARENA_MAX") == "1"
    scorer = DaskScorer(None, n_workers=1)
    try:
        env = scorer.client.run(lambda: (os.environ.get("MALLOC_ARENA_MAX"), os.environ.get("MALLOC_TRIM_THRESHOLD_")))
        profiling = scorer.client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    finally:
        scorer.close()
    assert list(env.values()) == [("1", None)]
    assert list(profiling.values()) == [False]  # no statistical profiler in the workers (no dashboard)


# one LocalCluster for the cluster tests, last in the module: it is torn down right after them
@pytest.fixture(scope="module")
def dask_service(tmp_path_factory, golden_pkg):
    """One service on a 2-worker Dask LocalCluster (``scheduler="local:2"``) with the golden uploaded,
    shared by the cluster tests of this module: each opens its own lot, and the cluster (started once,
    its workers' Inspectors loaded once) outlives a killed worker, which its nanny restarts."""
    d = tmp_path_factory.mktemp("dask")
    db = f"sqlite:///{d / 'svc.db'}"
    app = create_app(db, d / "data", scheduler="local:2")
    key = new_key(app.state.store.engine, "k", role="admin")[1]
    with TestClient(app) as client:
        gid = upload_golden(client, key, golden_pkg)
        yield app, client, key, gid, db


def _scored_results(client, key, gid, db, blobs) -> dict:
    """A lot of 20 with ``blobs`` uploaded, once every photo is scored: its stored results by sha256."""
    lot_id = client.post("/api/lots", headers=auth(key), json={"product": SPEC["product"], "golden_id": gid,
                                                                "lot_size": 20, "seed": 1}).json()["lot_id"]
    client.post(f"/api/lots/{lot_id}/photos", headers=auth(key),
                files=[("files", (f"u{i}.png", b, "image/png")) for i, b in enumerate(blobs)])
    wait_scored(client, key, lot_id, len(blobs), timeout=240)
    rows = open_store(db).results(lot=lot_id)
    return {r["image_sha256"]: (r["verdict"], r["reasons"], r["metrics"]) for r in rows}


@pytest.mark.slow
def test_dask_cluster_gives_the_same_results_as_in_process(tmp_path, golden_pkg, dask_service):
    """The same photos through a 2-worker LocalCluster and in-process: identical stored results."""
    from goldenvision.service.scoring import DaskScorer, InProcessScorer

    blobs = [png_bytes(product(700 + i, (0.5 * i % 3, 1))) for i in range(6)] + [png_bytes(defective(799))]
    out = {}
    d = tmp_path / "inproc"
    db = f"sqlite:///{d / 'svc.db'}"
    app = create_app(db, d / "data", scheduler=None)
    key = new_key(app.state.store.engine, "k", role="admin")[1]
    with TestClient(app) as client:
        gid = upload_golden(client, key, golden_pkg)
        out[None] = _scored_results(client, key, gid, db, blobs)
        assert isinstance(app.state.scorer(), InProcessScorer)
    app, client, key, gid, db = dask_service  # the module's service on a local:2 cluster
    out["local:2"] = _scored_results(client, key, gid, db, blobs)
    assert isinstance(app.state.scorer(), DaskScorer)
    assert out[None] == out["local:2"] and len(out[None]) == len(blobs)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(dask_service):
    import os
    import signal

    app, client, key, gid, db = dask_service
    blobs = [png_bytes(product(900 + i, (1.0, 0.5))) for i in range(12)]  # the kill falls after 3: 9 still to do
    lot_id = client.post("/api/lots", headers=auth(key), json={"product": SPEC["product"], "golden_id": gid,
                                                                "lot_size": 100, "seed": 2}).json()["lot_id"]
    scorer = app.state.scorer()
    pids = scorer.client.run(os.getpid)
    assert len(pids) == 2
    client.post(f"/api/lots/{lot_id}/photos", headers=auth(key),
                files=[("files", (f"u{i:02d}.png", b, "image/png")) for i, b in enumerate(blobs)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill one worker once a few units are in, mid-batch
        at_kill = client.get(f"/api/lots/{lot_id}", headers=auth(key)).json()["progress"]["scored"]
        if at_kill >= 3:
            break
        time.sleep(0.02)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    assert at_kill < len(blobs), "the kill must fall mid-batch"
    s = wait_scored(client, key, lot_id, len(blobs), timeout=240)
    rows = open_store(db).results(lot=lot_id)
    assert s["progress"]["scored"] == len(blobs) and s["progress"]["failed"] == 0
    assert len(rows) == len(blobs) == len({r["image_sha256"] for r in rows})
