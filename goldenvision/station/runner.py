"""Run a station process: golden loaded once, store opened, operator page served, SIGTERM clean."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core import Station, StationConfig
from .web import OperatorServer

__all__ = ["run_station", "JsonLogFormatter"]

log = logging.getLogger("goldenvision.station")

#: BLAS threads of a station process: it judges one unit at a time and its matrix products are
#: small, where extra BLAS threads only cost (see :func:`goldenvision.pipeline.set_thread_pools`).
STATION_BLAS_THREADS = 1


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level`` and the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        try:
            body = json.loads(msg)
            if not isinstance(body, dict):
                body = {"message": msg}
        except ValueError:
            body = {"message": msg}
        return json.dumps({"ts": round(record.created, 3), "level": record.levelname.lower(), **body})


def _setup_logging(log_file: Path | None) -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def golden_id_of(golden: Any) -> str:
    """The sealed package's id; a golden never saved cannot be the reference of stored results."""
    gid = (golden.meta.get("package") or {}).get("golden_id")
    if not gid:
        from ..errors import IntegrityError

        raise IntegrityError("golden: not a sealed package (no golden_id); save it and load it with gv.load_golden")
    return str(gid)


def run_station(
    golden_path: str | Path,
    db_url: str,
    *,
    watch: Path | None = None,
    camera: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = 8750,
    context: Mapping[str, Any] | None = None,
    station_name: str = "station",
    evidence_quota_mb: float | None = None,
    log_file: Path | None = None,
    drift_every_s: float = 30.0,
    drain: bool = False,
    ready: threading.Event | None = None,
    calibration: Any = None,
    label_dataset: Path | None = None,
) -> int:
    """Run a station until SIGTERM/SIGINT, ``stop`` or a finished ``drain``; returns units judged.

    Parameters
    ----------
    golden_path : path
        The sealed golden package (verified on load).
    db_url : str
        The results store (SQLite path/URL or PostgreSQL URL).
    watch : Path, optional
        The hot folder; with ``camera`` it is where triggered frames are written.
    camera : str, optional
        ``cv2.VideoCapture`` source (device index, URL, video file) or ``genicam:PATH.cti``.
    port : int or None
        The operator page's port (None: no page).
    drain : bool
        Judge what is waiting (and what a crash left in ``processing/``), then stop.
    label_dataset : Path, optional
        The gv dataset that the operator page's labels are added to.
    """
    from .. import load_golden
    from ..pipeline import Inspector
    from ..store import open_store
    from .camera import open_camera

    _setup_logging(log_file)
    if watch is None:
        if camera is None:
            raise ValueError("station: give a hot folder (--watch DIR) or a camera (--camera SRC)")
        watch = Path("station-frames")
    golden = load_golden(golden_path)
    gid = golden_id_of(golden)
    store = open_store(db_url)
    store.record_golden(gid, golden.spec.product, golden.meta.get("package") or {})
    # calibration: a fitted --station profile
    inspector = Inspector(golden, blas_threads=STATION_BLAS_THREADS, calibration=calibration)
    cfg = StationConfig(watch=Path(watch), context=dict(context or {}), station_name=station_name,
                        evidence_quota_mb=evidence_quota_mb,
                        label_dataset=None if label_dataset is None else Path(label_dataset))
    station = Station(inspector, store, gid, cfg)
    if camera is not None:
        station.camera = open_camera(camera)
    if drain:
        station.control("drain")
    server = OperatorServer(station, host, port).start() if port is not None else None

    def _term(signum: int, frame: Any) -> None:
        log.info(json.dumps({"event": "signal", "signal": signal.Signals(signum).name}))
        station.request_stop()

    old = {s: signal.signal(s, _term) for s in (signal.SIGTERM, signal.SIGINT)}
    stop_drift = threading.Event()

    def _drift_loop() -> None:
        from ..drift import detect_drift

        while not stop_drift.wait(drift_every_s):
            station.refresh_alarms(lambda: [a.to_dict() for a in detect_drift(store, product=golden.spec.product).alarms])

    threading.Thread(target=_drift_loop, name="drift", daemon=True).start()
    log.info(json.dumps({"event": "started", "golden_id": gid, "product": golden.spec.product,
                         "watch": str(watch), "camera": camera, "page": server.url if server else None}))
    if ready is not None:
        ready.set()
    t0 = time.monotonic()
    try:
        station.run()
    finally:
        stop_drift.set()
        for s, h in old.items():
            signal.signal(s, h)
        if server is not None:
            server.stop()
        if station.camera is not None:
            station.camera.close()
        store.close()
        log.info(json.dumps({"event": "exit", "processed": station.processed,
                             "uptime_s": round(time.monotonic() - t0, 1)}))
    return station.processed
