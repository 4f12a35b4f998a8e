"""A hot folder that loses nothing and hands out each file once.

Camera software writes photos into a folder, often under a temporary name that is then
renamed, sometimes announcing a file before its last byte is written. Filesystem events
(watchdog/inotify) are only hints: inotify drops events when its queue overflows. So the
folder is also rescanned, every file is *claimed* by an atomic ``rename`` into
``processing/`` (two stations on one folder never take the same file), and after its result
is stored it moves to ``done/`` or ``failed/``. Whatever a crash leaves in ``processing/``
is taken up again at the next start (:meth:`HotFolder.recover`).

Layout under the watched folder::

    <watch>/            new photos land here (sub-folders are ignored)
    <watch>/processing/ claimed, being judged
    <watch>/done/       judged and stored
    <watch>/failed/     not an image, corrupt, empty: stored as ``review`` with the reason
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HotFolder", "is_complete", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
#: Names that camera and copy tools use while a file is still being written, and sidecars.
_SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".download", ".json")
_SUBDIRS = ("processing", "done", "failed")


def is_complete(data: bytes) -> bool | None:
    """Whether an image file's bytes end where the format says the file ends.

    Returns True for a PNG ending with its IEND chunk or a JPEG ending with its EOI marker
    (trailing zero padding allowed), False when such a format is recognised but its end is
    missing (still being written, or truncated), and None for formats without an end marker
    (TIFF, BMP, ...), where only a settle time can tell.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data[-12:-4] == b"\x00\x00\x00\x00IEND"
    if data.startswith(b"\xff\xd8"):
        return data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    return None


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


@dataclass
class HotFolder:
    """Claim photos from a watched folder exactly once.

    Parameters
    ----------
    root : Path
        The watched folder; ``processing/``, ``done/`` and ``failed/`` are made inside it.
    settle_s : float
        A file whose end cannot be recognised from its bytes (TIFF, BMP, a JPEG still being
        written) is taken once its size and mtime have not changed for this long.
    stale_s : float
        A file that stays incomplete (or empty) this long is claimed anyway and fails with
        the reason, so nothing waits forever.
    """

    root: Path
    settle_s: float = 0.5
    stale_s: float = 10.0
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        for d in _SUBDIRS:
            (self.root / d).mkdir(exist_ok=True)

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @staticmethod
    def _is_candidate_name(name: str) -> bool:
        low = name.lower()
        return not (low.startswith((".", "~")) or low.endswith(_SKIP_SUFFIXES))

    def pending(self) -> list[Path]:
        """Files waiting in the watched folder (oldest first), whether ready or not."""
        out = []
        with os.scandir(self.root) as it:
            for e in it:
                if e.is_file(follow_symlinks=False) and self._is_candidate_name(e.name):
                    try:
                        out.append((e.stat().st_mtime_ns, e.name))
                    except FileNotFoundError:
                        continue
        return [self.root / n for _, n in sorted(out)]

    def ready(self, path: Path, *, now: float | None = None) -> bool:
        """Whether ``path`` looks completely written (see the class docstring)."""
        now = time.monotonic() if now is None else now
        try:
            st = path.stat()
        except FileNotFoundError:
            self._seen.pop(path.name, None)
            return False
        seen = self._seen.get(path.name)
        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            seen = self._seen[path.name] = _Seen(st.st_size, st.st_mtime_ns, now)
        quiet_s = now - seen.since
        if st.st_size > 0 and path.suffix.lower() in {".png", ".jpg", ".jpeg"}:
            try:
                with open(path, "rb") as f:
                    head = f.read(8)
                    f.seek(max(0, st.st_size - 64))
                    tail = f.read()
            except OSError:
                return False
            complete = is_complete(head + tail if st.st_size > 72 else head[: st.st_size])
            if complete:
                return True
            if complete is False:
                return quiet_s >= self.stale_s
        if st.st_size == 0:
            return quiet_s >= self.stale_s
        return quiet_s >= self.settle_s

    def claim(self, path: Path) -> Path | None:
        """Atomically move ``path`` into ``processing/``; None if another claimant was first."""
        target = _free_name(self.processing, path.name)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        finally:
            self._seen.pop(path.name, None)
        sidecar = _sidecar_of(path)
        if sidecar is not None:
            try:
                os.rename(sidecar, target.with_name(target.name + ".json"))
            except FileNotFoundError:
                pass
        return target

    def claimed(self) -> list[Path]:
        """Files left in ``processing/`` (by a crash): to be judged again at start-up."""
        return sorted(p for p in self.processing.iterdir() if p.is_file() and not p.name.endswith(".json"))

    def finish(self, path: Path, *, ok: bool) -> Path:
        """Move a claimed file (and its sidecar) to ``done/`` or ``failed/``; returns the new path."""
        dest_dir = self.done if ok else self.failed
        target = _free_name(dest_dir, path.name)
        os.rename(path, target)
        side = path.with_name(path.name + ".json")
        if side.exists():
            os.rename(side, target.with_name(target.name + ".json"))
        _fsync_dir(dest_dir)
        return target


def _sidecar_of(path: Path) -> Path | None:
    """``photo.jpg.json`` beside a photo (capture context), if present."""
    from ..context import sidecar_path

    return sidecar_path(path)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-N.suffix`` when that name is taken."""
    target = folder / name
    n = 1
    while target.exists():
        stem, suffix = os.path.splitext(name)
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
