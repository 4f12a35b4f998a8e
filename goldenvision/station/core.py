"""The end-of-line station: photos in, a verdict each, every photo stored exactly once.

One :class:`Station` holds one :class:`~goldenvision.pipeline.Inspector` (the golden's models,
loaded once) and a results store. Exactly once rests on two facts:

* the store's write is idempotent by (image sha256, golden id), so judging a photo twice
  leaves one row;
* a photo leaves ``processing/`` only *after* its result is committed, and whatever is in
  ``processing/`` at start-up is judged again (or, when the store already has it, just
  moved on).

So a SIGKILL or a power cut at any moment, then a restart, leaves every photo in the store
exactly once and nothing stranded in ``processing/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..context import read_sidecar
from ..errors import GoldenVisionError, ImageError, SpecError
from ..imageio import LoadedImage, read_image
from .evidence import side_by_side
from .hotfolder import HotFolder

__all__ = ["Station", "StationConfig", "UnitRecord", "focus_ratio"]

log = logging.getLogger("goldenvision.station")

STATES = ("running", "paused", "draining", "stopped")


@dataclass(frozen=True)
class StationConfig:
    """How a station runs.

    Attributes
    ----------
    watch : Path or None
        The hot folder (the default input).
    context : mapping
        Capture context given to every unit (station, shift, lot, ...); a sidecar JSON
        beside a photo overrides it field by field.
    station_name : str
        Recorded as the context's ``station`` when the context has none.
    poll_s : float
        How often the hot folder is rescanned (filesystem events, when watchdog is installed,
        wake the station sooner; they are only hints).
    settle_s, stale_s : float
        See :class:`~goldenvision.station.hotfolder.HotFolder`.
    evidence_quota_mb : float or None
        Disk quota of kept photos (``done/`` and ``failed/``); the oldest go first. The store
        is never touched.
    min_focus_ratio : float
        A photo whose sharpness (variance of the Laplacian) is below this share of the
        golden's is judged ``review`` as a blurred frame, before any other check.
    label_dataset : Path or None
        The gv dataset that the operator page's labels go to (``train --resume`` reads it);
        None: the page offers no labelling.
    """

    watch: Path | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    station_name: str = "station"
    poll_s: float = 0.05
    settle_s: float = 0.5
    stale_s: float = 10.0
    evidence_quota_mb: float | None = None
    min_focus_ratio: float = 0.3
    label_dataset: Path | None = None


@dataclass(frozen=True)
class UnitRecord:
    """What the station shows and logs of one judged photo."""

    file: str
    image_sha256: str
    verdict: str
    reasons: tuple[str, ...]
    context: dict[str, Any]
    stored_utc: float
    latency_ms: float | None
    timings_ms: dict[str, float]
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "image_sha256": self.image_sha256, "verdict": self.verdict,
            "reasons": list(self.reasons), "context": dict(self.context), "stored_utc": self.stored_utc,
            "latency_ms": self.latency_ms, "timings_ms": dict(self.timings_ms), "duplicate": self.duplicate,
        }


def _sharpness(gray: np.ndarray) -> float:
    """Focus measure: variance of the Laplacian of Gaussian (sigma 1.5 px) at about 640 px wide.

    The Gaussian keeps sensor noise and interpolation (a sub-pixel shift) from ruling the
    figure: measured on a test part, a half-pixel shift reads 0.86 of the golden, a defocus
    blur of sigma 2 px 0.23, and four times the noise 1.04.
    """
    h, w = gray.shape[:2]
    f = 640.0 / max(w, 1)
    if f < 1:
        gray = cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.5)
    return float(cv2.Laplacian(smooth, cv2.CV_32F).var())


def focus_ratio(rgb: np.ndarray, golden_sharpness: float) -> float:
    """Sharpness of a photo as a share of the golden's (1.0 = as sharp as the golden).

    Pertuz, Puig & Garcia, "Analysis of focus measure operators for shape-from-focus",
    Pattern Recognition 46 (2013), doi:10.1016/j.patcog.2012.11.011 (LAP4, variance of
    the Laplacian). Meaningful at a station, where unit and golden are photographed from the
    same distance through the same lens.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return _sharpness(gray) / max(golden_sharpness, 1e-9)


class Station:
    """Judge every photo that lands in a hot folder (or comes from a camera), exactly once.

    Parameters
    ----------
    inspector : goldenvision.Inspector
        Holds the golden's models (loaded once for the station's life).
    store : goldenvision.store.Store
        Where results go; idempotent by (image sha256, golden id).
    golden_id : str
    config : StationConfig
    """

    def __init__(self, inspector: Any, store: Any, golden_id: str, config: StationConfig) -> None:
        self.inspector = inspector
        self.store = store
        self.golden_id = golden_id
        self.config = config
        self.folder = HotFolder(config.watch, settle_s=config.settle_s, stale_s=config.stale_s) if config.watch else None
        golden = inspector.golden
        self.product = golden.spec.product
        self._golden_sharpness = _sharpness(cv2.cvtColor(golden.reference, cv2.COLOR_RGB2GRAY))
        self._state = "running"
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.recent: deque[UnitRecord] = deque(maxlen=50)
        self.shift_counts: dict[str, Counter[str]] = {}
        self.processed = 0
        self.last_photo: tuple[bytes, Any] | None = None  # (bytes, UnitResult) of the latest unit
        self.alarms: list[dict[str, Any]] = []
        self.started_utc = time.time()
        self._last_retention = 0.0
        self.camera: Any = None
        self._label_lock = threading.Lock()
        self._load_counts()

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def control(self, action: str) -> str:
        """``run``, ``pause``, ``drain`` (finish what is waiting, then stop) or ``stop``."""
        with self._lock:
            if action == "run":
                self._state = "running"
            elif action == "pause":
                self._state = "paused"
            elif action == "drain":
                self._state = "draining"
            elif action == "stop":
                self._state = "stopped"
                self._stop.set()
            else:
                raise ValueError(f"action: expected run, pause, drain or stop, got {action!r}")
        self._wake.set()
        log.info(json.dumps({"event": "control", "action": action, "state": self._state}))
        return self._state

    def wake(self) -> None:
        """A hint that something changed (a filesystem event, a trigger)."""
        self._wake.set()

    def request_stop(self) -> None:
        """SIGTERM: finish the unit in hand, then stop."""
        self._stop.set()
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------
    def recover(self) -> int:
        """Judge (or move on) whatever a crash left in ``processing/``; returns how many."""
        if self.folder is None:
            return 0
        n = 0
        for path in self.folder.claimed():
            self.process(path)
            n += 1
        if n:
            log.info(json.dumps({"event": "recovered", "files": n}))
        return n

    def step(self) -> int:
        """Claim and judge every ready file once; returns how many were judged."""
        if self.folder is None:
            return 0
        n = 0
        for path in self.folder.pending():
            if self._stop.is_set() or self._state in ("paused", "stopped"):
                break
            if not self.folder.ready(path):
                continue
            claimed = self.folder.claim(path)
            if claimed is None:
                continue
            self.process(claimed)
            n += 1
        return n

    def run(self) -> None:
        """Run until stopped (SIGTERM, ``stop``) or drained."""
        self.recover()
        observer = self._watch_events()
        try:
            while not self._stop.is_set():
                if self._state == "paused":
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                n = self.step()
                if self._state == "draining" and n == 0 and self.folder is not None and not self._waiting():
                    self._state = "stopped"
                    break
                self._retention()
                if n == 0:
                    self._wake.wait(self.config.poll_s)
                    self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
            if self._state != "stopped":
                self._state = "stopped"
            log.info(json.dumps({"event": "stopped", "processed": self.processed}))

    def _waiting(self) -> bool:
        return bool(self.folder and self.folder.pending())

    def _watch_events(self) -> Any:
        """Filesystem events as wake-up hints, when watchdog is installed."""
        if self.folder is None:
            return None
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return None
        station = self

        class _Hint(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                station.wake()

        observer = Observer()
        observer.schedule(_Hint(), str(self.folder.root), recursive=False)
        observer.daemon = True
        observer.start()
        return observer

    # -- one unit ---------------------------------------------------------------------
    def _context_for(self, path: Path) -> tuple[dict[str, Any], str | None]:
        """The unit's context (station's, then its sidecar's field by field), and why a bad
        sidecar was not used (the unit is then judged ``review`` with that reason)."""
        ctx: dict[str, Any] = {"product": self.product, "station": self.config.station_name}
        ctx.update(self.config.context)
        try:
            ctx.update(read_sidecar(path))
        except SpecError as exc:
            return ctx, f"context sidecar: {exc}"
        return ctx, None

    def process(self, path: Path) -> UnitRecord:
        """Judge one claimed file, store its result, then move it to ``done/`` or ``failed/``."""
        try:
            landed = os.stat(path).st_ctime
        except OSError:
            landed = None
        try:
            data = path.read_bytes()
        except OSError as exc:
            data = b""
            log.error(json.dumps({"event": "read_error", "file": path.name, "why": str(exc)}))
        sha = hashlib.sha256(data).hexdigest()
        ctx, sidecar_problem = self._context_for(path)
        name = path.name
        if self._already_stored(sha):
            rec = UnitRecord(name, sha, "stored", (), ctx, time.time(), None, {}, duplicate=True)
            if self.folder is not None:
                self.folder.finish(path, ok=True)
            log.info(json.dumps({"event": "already_stored", "file": name, "image_sha256": sha}))
            return rec
        result, image_ok = self._judge(data, name, ctx, sidecar_problem, sha)
        row = result.to_dict()
        self.store.record_result(row, golden_id=self.golden_id, file=name, image_sha256=sha, context=ctx)
        if self.folder is not None and path.parent == self.folder.processing:
            self.folder.finish(path, ok=image_ok)
        now = time.time()
        latency = None if landed is None else (now - landed) * 1e3
        rec = UnitRecord(name, sha, str(row["verdict"]), tuple(row.get("reasons", ())), ctx, now, latency,
                         dict(row.get("timings_ms") or {}))
        with self._lock:
            self.recent.appendleft(rec)
            self.processed += 1
            self.shift_counts.setdefault(str(ctx.get("shift") or "-"), Counter())[rec.verdict] += 1
            self.last_photo = (data, result) if image_ok else self.last_photo
        log.info(json.dumps({"event": "unit", **rec.to_dict()}))
        return rec

    def _judge(self, data: bytes, name: str, ctx: dict[str, Any], sidecar_problem: str | None = None,
               sha: str | None = None) -> tuple[Any, bool]:
        """(UnitResult, whether the bytes were a readable image)."""
        if sha is None:
            sha = hashlib.sha256(data).hexdigest()
        from ..results import UnitResult, Verdict

        def review(reason: str) -> Any:
            return UnitResult(verdict=Verdict.review, reasons=(reason,), registration=None, unit_id=name)

        try:  # decoded once here: the focus check and the inspection share it, and its sha256 is the file's
            loaded = LoadedImage(rgb=read_image(data, name=name), sha256=sha, name=name, nbytes=len(data))
        except ImageError as exc:
            return review(f"image: {exc}"), False
        if sidecar_problem:
            return review(sidecar_problem), True
        ratio = focus_ratio(loaded.rgb, self._golden_sharpness)
        if ratio < self.config.min_focus_ratio:
            return review(f"blurred frame: sharpness {ratio:.0%} of the golden's (limit {self.config.min_focus_ratio:.0%})"), True
        try:
            return self.inspector.inspect(loaded, context=ctx, unit_id=name), True
        except GoldenVisionError as exc:
            return review(f"{type(exc).__name__}: {exc}"), True

    def _already_stored(self, sha: str) -> bool:
        return bool(self.store.has_result(sha, self.golden_id))

    def _load_counts(self) -> None:
        """Counts per shift from the store, so a restart does not reset the page's figures."""
        try:
            rows = self.store.results(golden_id=self.golden_id)
        except Exception as exc:  # the page's figures must never stop a station  # noqa: BLE001
            log.warning(json.dumps({"event": "counts_unavailable", "why": str(exc)}))
            return
        for r in rows:
            shift = str((r.get("context") or {}).get("shift") or "-")
            self.shift_counts.setdefault(shift, Counter())[str(r["verdict"])] += 1

    # -- operations -------------------------------------------------------------------
    def _retention(self, *, force: bool = False) -> int:
        """Delete the oldest kept photos beyond the quota (never the store); returns how many."""
        quota = self.config.evidence_quota_mb
        if quota is None or self.folder is None:
            return 0
        now = time.monotonic()
        if not force and now - self._last_retention < 5.0:
            return 0
        self._last_retention = now
        files = []
        for d in (self.folder.done, self.folder.failed):
            with os.scandir(d) as it:
                for e in it:
                    if e.is_file():
                        st = e.stat()
                        files.append((st.st_mtime, st.st_size, e.path))
        total = sum(f[1] for f in files)
        limit = quota * 1024 * 1024
        removed = 0
        for _, size, p in sorted(files):
            if total <= limit:
                break
            try:
                os.remove(p)
                total -= size
                removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info(json.dumps({"event": "retention", "removed": removed, "kept_mb": round(total / 2**20, 1)}))
        return removed

    def snapshot(self) -> dict[str, Any]:
        """What the operator page shows (JSON-able)."""
        with self._lock:
            recent = [r.to_dict() for r in self.recent if not r.duplicate][:20]
            return {
                "state": self._state,
                "product": self.product,
                "golden_id": self.golden_id,
                "station": self.config.station_name,
                "processed": self.processed,
                "waiting": len(self.folder.pending()) if self.folder else 0,
                "current": recent[0] if recent else None,
                "recent": recent,
                "shift_counts": {k: dict(v) for k, v in sorted(self.shift_counts.items())},
                "alarms": list(self.alarms),
                "camera": self.camera is not None,
                "labelling": self.config.label_dataset is not None,
            }

    def refresh_alarms(self, compute: Callable[[], list[dict[str, Any]]]) -> None:
        """Replace the drift alarms shown on the page by what ``compute`` returns."""
        try:
            alarms = compute()
        except Exception as exc:  # drift must never stop a station  # noqa: BLE001
            log.warning(json.dumps({"event": "drift_unavailable", "why": str(exc)}))
            return
        with self._lock:
            self.alarms = alarms

    def _photo_bytes(self, sha: str) -> tuple[bytes, str] | None:
        """The bytes and file name of a recently judged unit: the latest in memory, else its
        kept photo in ``done/`` (checked against its sha256)."""
        with self._lock:
            last = self.last_photo
            rec = next((r for r in self.recent if r.image_sha256 == sha and not r.duplicate), None)
        if rec is None:
            return None
        if last is not None and hashlib.sha256(last[0]).hexdigest() == sha:
            return last[0], rec.file
        if self.folder is not None:
            for d in (self.folder.done, self.folder.failed):
                p = d / rec.file
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                if hashlib.sha256(data).hexdigest() == sha:
                    return data, rec.file
        return None

    def label(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Record an operator's label of a recent unit in :attr:`StationConfig.label_dataset`.

        ``request``: ``{"image_sha256": ..., "good": bool, "defects": [{"box": [x1, y1, x2,
        y2], "class": ..., "severity": ...}], "frame": "picture" | "golden"}``; boxes are in
        px of the operator picture (``/api/current.jpg``, the default) or of the golden.
        Raises :class:`~goldenvision.labelling.LabelError` (bad request), LookupError (the
        unit is no longer at hand) or RuntimeError (labelling is off).
        """
        from ..labelling import LabelError, boxes_from_mapping, label_unit
        from .evidence import picture_to_golden

        if self.config.label_dataset is None:
            raise RuntimeError("labelling is off on this station (start it with --label-dataset DIR)")
        sha = str(request.get("image_sha256") or "")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise LabelError("image_sha256: expected the unit's 64 hex digits")
        good = bool(request.get("good", False))
        boxes, classes, sevs = boxes_from_mapping(request.get("defects") or [])
        frame = request.get("frame", "picture")
        if frame not in ("picture", "golden"):
            raise LabelError("frame: expected 'picture' or 'golden'")
        if frame == "picture":
            shape = self.inspector.golden.reference.shape[:2]
            boxes = [list(picture_to_golden(b, shape)) for b in boxes]
        found = self._photo_bytes(sha)
        if found is None:
            raise LookupError(f"unit {sha[:12]} is no longer at hand on this station; label it with "
                              "'goldenvision label --unit'")
        data, file = found
        ctx = next((r.context for r in self.recent if r.image_sha256 == sha), {})
        with self._label_lock:
            out = label_unit(self.config.label_dataset, data, inspector=self.inspector, boxes=boxes,
                             classes=classes, severities=sevs, good=good, image_name=file,
                             group=str(ctx.get("lot")) if ctx.get("lot") else None,
                             source=f"station {self.config.station_name}")
        log.info(json.dumps({"event": "label", "file": file, "image_sha256": sha, "good": good,
                             "boxes": out["boxes_added"], "dataset": out["dataset"]}))
        return out

    def label_classes(self) -> list[str]:
        """Classes the page offers: the dataset's, then the golden's detector's."""
        from ..labelling import known_classes

        det = getattr(self.inspector, "detector", None)
        extra = list(getattr(getattr(det, "info", None), "classes", ()) or ())
        return known_classes(self.config.label_dataset, extra)

    def evidence_image(self, *, width: int = 900) -> np.ndarray | None:
        """The latest unit in golden px beside the golden, with its anomaly heat map (RGB uint8)."""
        with self._lock:
            last = self.last_photo
        if last is None:
            return None
        data, result = last
        return side_by_side(self.inspector.golden.reference, read_image(data), result, width=width)
