"""The end-of-line station: claiming files once, exactly-once storage across SIGKILL, bad frames,
the operator page in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import pytest

import goldenvision as gv
from goldenvision.station import HotFolder, Station, StationConfig, is_complete
from goldenvision.station.runner import golden_id_of
from goldenvision.store import open_store
from synthetic import drop, png_bytes, product

@pytest.fixture(scope="module")
def golden_pkg(tiny_golden_pkg) -> Path:
    return tiny_golden_pkg


@pytest.fixture(scope="module")
def inspector(golden_pkg) -> gv.Inspector:
    """One Inspector of the golden for the in-process stations of this module (it keeps no state
    between units; building it costs a few tenths of a second per test)."""
    return gv.Inspector(gv.load_golden(golden_pkg))


def make_station(inspector: gv.Inspector, tmp_path: Path, **cfg) -> Station:
    golden = inspector.golden
    store = open_store(f"sqlite:///{tmp_path / 'results.db'}")
    gid = golden_id_of(golden)
    store.record_golden(gid, golden.spec.product, golden.meta.get("package") or {})
    config = StationConfig(watch=tmp_path / "hot", **({"settle_s": 0.05, "stale_s": 0.3} | cfg))
    return Station(inspector, store, gid, config)


# ------------------------------------------------------------------------------------------
# Claiming files
# ------------------------------------------------------------------------------------------
def test_is_complete_recognises_truncated_png_and_jpeg():
    rgb = product(3)
    png = png_bytes(rgb)
    ok, jpg = cv2.imencode(".jpg", rgb)
    jpg = jpg.tobytes()
    assert is_complete(png) is True and is_complete(png[:-20]) is False
    assert is_complete(jpg) is True and is_complete(jpg[: len(jpg) // 2]) is False
    assert is_complete(b"II*\x00" + b"\x00" * 100) is None  # TIFF: no end marker, settle time decides


def test_two_claimants_never_take_the_same_file(tmp_path):
    a, b = HotFolder(tmp_path), HotFolder(tmp_path)
    for i in range(30):
        drop(tmp_path, f"u{i:02d}.png", png_bytes(product(i)))
    got_a, got_b = [], []

    def take(folder, got):
        for p in folder.pending():
            c = folder.claim(p)
            if c is not None:
                got.append(c.name)

    ta, tb = threading.Thread(target=take, args=(a, got_a)), threading.Thread(target=take, args=(b, got_b))
    ta.start(), tb.start()
    ta.join(), tb.join()
    assert sorted(got_a + got_b) == [f"u{i:02d}.png" for i in range(30)]
    assert not set(got_a) & set(got_b)


def test_a_file_still_being_written_is_not_taken_until_complete(tmp_path):
    folder = HotFolder(tmp_path, settle_s=0.05, stale_s=30)
    data = png_bytes(product(4))
    path = tmp_path / "slow.png"
    path.write_bytes(data[: len(data) // 2])  # announced before its last byte
    assert not folder.ready(path)
    time.sleep(0.1)
    assert not folder.ready(path), "an incomplete PNG must wait (until stale_s), not go by the settle time"
    with open(path, "ab") as f:
        f.write(data[len(data) // 2:])
    assert folder.ready(path)
    assert not folder.ready(tmp_path / ".hidden.part") and folder.pending() == [path]


# ------------------------------------------------------------------------------------------
# One station, in process
# ------------------------------------------------------------------------------------------
def test_station_judges_stores_and_files_every_photo(inspector, tmp_path):
    st = make_station(inspector, tmp_path, context={"shift": "B", "lot": "L1"})
    hot = st.folder.root
    for i in range(4):
        drop(hot, f"good{i}.png", png_bytes(product(10 + i, (2.5, -1.5))))
    bad = product(20)
    cv2.circle(bad, (200, 150), 12, (0, 0, 0), -1)
    drop(hot, "stain.png", png_bytes(bad))
    (hot / "good0.png.json").write_text(json.dumps({"operator": "ana"}))  # sidecar of an already dropped photo
    assert st.step() == 5
    rows = {r["file"]: r for r in st.store.results()}
    assert {k: v["verdict"] for k, v in rows.items()} == {**{f"good{i}.png": "pass" for i in range(4)}, "stain.png": "fail"}
    assert rows["good1.png"]["context"]["shift"] == "B" and rows["good1.png"]["context"]["lot"] == "L1"
    # decoded once by the station: the result's provenance names the file's own bytes
    assert all(r["result"]["provenance"]["image_sha256"] == r["image_sha256"] for r in rows.values())
    assert sorted(p.name for p in st.folder.done.iterdir() if p.suffix == ".png") == sorted(rows)
    assert not list(st.folder.processing.iterdir())
    snap = st.snapshot()
    assert snap["shift_counts"] == {"B": {"pass": 4, "fail": 1}}
    assert snap["current"]["file"] in rows
    pic = st.evidence_image(width=600)
    assert pic is not None and pic.shape[1] == 600


def test_bad_frames_end_in_failed_or_review_and_the_station_goes_on(inspector, tmp_path):
    st = make_station(inspector, tmp_path)
    hot = st.folder.root
    good = png_bytes(product(30, (1, 1)))
    drop(hot, "corrupt.png", good[:200] + b"\x00garbage" * 50 + good[-12:])
    drop(hot, "empty.jpg", b"")
    drop(hot, "notes.png", b"this is not an image at all")
    drop(hot, "other.png", png_bytes(product(31, layout=99)))
    drop(hot, "blurred.png", png_bytes(cv2.GaussianBlur(product(32), (0, 0), 4)))
    drop(hot, "good.png", good)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and st.folder.pending():
        st.step()
        time.sleep(0.05)
    rows = {r["file"]: r for r in st.store.results()}
    assert set(rows) == {"corrupt.png", "empty.jpg", "notes.png", "other.png", "blurred.png", "good.png"}
    assert rows["good.png"]["verdict"] == "pass"
    for name in ("corrupt.png", "empty.jpg", "notes.png", "other.png", "blurred.png"):
        assert rows[name]["verdict"] == "review", name
        assert rows[name]["reasons"], name
    assert "registration" in rows["other.png"]["reasons"][0]
    assert "blurred" in rows["blurred.png"]["reasons"][0]
    failed = {p.name for p in st.folder.failed.iterdir()}
    assert {"corrupt.png", "empty.jpg", "notes.png"} <= failed
    assert {"other.png", "blurred.png", "good.png"} <= {p.name for p in st.folder.done.iterdir()}


def test_retention_removes_oldest_evidence_never_the_store(inspector, tmp_path):
    st = make_station(inspector, tmp_path, evidence_quota_mb=0.5)
    hot = st.folder.root
    for i in range(6):
        drop(hot, f"u{i}.png", png_bytes(product(40 + i, (1, 0))))
        os.utime(hot / f"u{i}.png", (1_700_000_000 + i, 1_700_000_000 + i))
    st.step()
    size = sum(p.stat().st_size for p in st.folder.done.iterdir())
    assert size > 0.5 * 2**20  # six ~300 KB PNGs exceed the quota
    removed = st._retention(force=True)
    kept = sorted(p.name for p in st.folder.done.iterdir())
    assert removed >= 1 and sum(p.stat().st_size for p in st.folder.done.iterdir()) <= 0.5 * 2**20
    assert "u5.png" in kept and "u0.png" not in kept  # the oldest went first
    assert st.store.count() == 6


# ------------------------------------------------------------------------------------------
# Exactly once across SIGKILL (a real process, killed)
# ------------------------------------------------------------------------------------------
_RUN = """
import sys
from pathlib import Path
from goldenvision.station.runner import run_station
run_station(sys.argv[1], sys.argv[2], watch=Path(sys.argv[3]), port=None, drain=sys.argv[4] == "drain",
            context={"shift": "A"}, station_name="line-1")
"""


def _start(golden_pkg, db, hot, mode):
    """The station in its own process; its JSON log goes to a file (a pipe nobody reads would fill)."""
    log = open(hot.parent / f"station-{mode}.log", "ab")
    return subprocess.Popen([sys.executable, "-c", _RUN, str(golden_pkg), db, str(hot), mode],
                            stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _log_tail(hot: Path, mode: str) -> str:
    return (hot.parent / f"station-{mode}.log").read_text(errors="replace")[-2000:]


def test_sigkill_then_restart_stores_every_photo_exactly_once(golden_pkg, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    db = f"sqlite:///{tmp_path / 'r.db'}"
    n = 24  # enough that the kill falls partway (>= 8 judged before it, the rest after the restart)
    proc = _start(golden_pkg, db, hot, "run")  # starts up while the photos are made
    blobs = [png_bytes(product(1000 + i, (float(i % 5) - 2, float(i % 3) - 1))) for i in range(n)]
    for i, b in enumerate(blobs):  # photos keep landing while the station works
        drop(hot, f"unit_{i:03d}.png", b)
        if i == n // 2:
            time.sleep(0.5)
    done = hot / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not done.exists() or len(list(done.iterdir())) < 8):
        time.sleep(0.02)
    assert proc.poll() is None, _log_tail(hot, "run")
    proc.send_signal(signal.SIGKILL)  # a power cut, mid-unit
    proc.wait()
    judged_before = len(list(done.iterdir()))
    assert 8 <= judged_before < n, "the kill must fall partway through the batch"
    proc = _start(golden_pkg, db, hot, "drain")
    assert proc.wait(timeout=240) == 0, _log_tail(hot, "drain")
    rows = open_store(db).results()
    import hashlib

    assert len(rows) == n
    assert sorted(r["image_sha256"] for r in rows) == sorted(hashlib.sha256(b).hexdigest() for b in blobs)
    assert not list((hot / "processing").iterdir())
    assert len(list(done.iterdir())) == n and not list(hot.glob("*.png"))
    assert all(r["context"]["station"] == "line-1" and r["context"]["shift"] == "A" for r in rows)


# ------------------------------------------------------------------------------------------
# The operator page in a real headless Chromium
# ------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_operator_page_shows_the_verdict_in_headless_chromium(inspector, tmp_path):
    from goldenvision.station import OperatorServer

    st = make_station(inspector, tmp_path)
    bad = product(50)
    cv2.circle(bad, (120, 90), 12, (0, 0, 0), -1)
    drop(st.folder.root, "unit_fail.png", png_bytes(bad))
    st.step()
    server = OperatorServer(st, "127.0.0.1", 0).start()
    try:
        with urllib.request.urlopen(server.url + "health", timeout=5) as r:
            assert json.load(r)["processed"] == 1
        shot = tmp_path / "page.png"
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=4000", "--window-size=1400,900"]
        # one Chromium run dumps the DOM and takes the screenshot (headless Chromium does both at once)
        dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", f"--screenshot={shot}", server.url],
                             capture_output=True, text=True, timeout=90).stdout
        if not shot.exists():  # an older headless Chromium takes one action per run
            subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", server.url], capture_output=True, timeout=90)
    finally:
        server.stop()
    assert 'id="verdict" class="fail"' in dom
    assert "anomaly all" in dom and "unit_fail.png" in dom
    assert shot.exists() and shot.stat().st_size > 10_000


def test_sigterm_finishes_the_unit_in_hand_and_exits_cleanly(golden_pkg, tmp_path):
    hot = tmp_path / "hot"
    hot.mkdir()
    db = f"sqlite:///{tmp_path / 'r.db'}"
    n = 20  # the signal comes after >= 3 are judged, far from the end of the folder
    proc = _start(golden_pkg, db, hot, "run")
    for i in range(n):
        drop(hot, f"unit_{i:03d}.png", png_bytes(product(2000 + i, (1.0, 0.5))))
    done = hot / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not done.exists() or len(list(done.iterdir())) < 3):
        time.sleep(0.02)
    assert proc.poll() is None, _log_tail(hot, "run")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, _log_tail(hot, "run")
    log = [json.loads(line) for line in (tmp_path / "station-run.log").read_text().splitlines() if line.startswith("{")]
    events = [e["event"] for e in log]
    assert "signal" in events and events[-1] == "exit"
    assert not list((hot / "processing").iterdir()), "the unit in hand must be finished, not left in processing/"
    stored = open_store(db).results()
    assert len(stored) == len(list(done.iterdir())) == sum(e == "unit" for e in events)
    assert 3 <= len(stored) < n  # it stopped instead of draining the folder


def test_camera_frames_come_in_by_trigger_and_are_stored_once(inspector, tmp_path):
    from goldenvision.station import OperatorServer, OpenCVCamera

    video = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (400, 300))
    assert writer.isOpened()
    for i in range(3):
        writer.write(product(3000 + i, (1.0, 1.0))[..., ::-1].copy())
    writer.release()
    st = make_station(inspector, tmp_path)
    st.camera = OpenCVCamera(str(video))
    server = OperatorServer(st, "127.0.0.1", 0).start()
    try:
        for _ in range(3):
            req = urllib.request.Request(server.url + "api/trigger", method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 202 and json.load(r)["file"].startswith("cam-")
        req = urllib.request.Request(server.url + "api/trigger", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("a fourth trigger past the end of the video must fail")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and b"no frame" in exc.read()
    finally:
        server.stop()
        st.camera.close()
    assert st.step() == 3
    rows = st.store.results()
    assert len(rows) == 3 and all(r["verdict"] == "pass" for r in rows), [r["reasons"] for r in rows]
