"""Cameras behind one adapter: a frame becomes a photo in the hot folder.

A triggered frame is encoded as PNG and written atomically (temporary name, then rename) into
the station's watched folder, so it takes exactly the path of a photo from camera software:
claimed, judged, stored once, kept as evidence.

* :class:`OpenCVCamera`: ``cv2.VideoCapture`` on a device index ("0"), an RTSP/HTTP URL or a
  video file (for tests and replays).
* GenICam cameras go through ``harvesters`` (optional extra ``genicam``), behind the same
  ``capture_to`` call: :class:`GenICamCamera`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError

__all__ = ["OpenCVCamera", "GenICamCamera", "open_camera", "write_frame"]


def write_frame(rgb: np.ndarray, folder: Any, *, prefix: str = "cam") -> str:
    """Write an RGB frame as PNG into a hot folder's watched root, atomically; returns its name."""
    if rgb is None or rgb.size == 0:
        raise ImageError("camera: empty frame")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ImageError("camera: the frame could not be encoded as PNG")
    name = f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns() % 10**9:09d}.png"
    root = Path(folder.root)
    tmp = root / f".{name}.part"
    with open(tmp, "wb") as f:
        f.write(buf.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, root / name)
    return name


class OpenCVCamera:
    """A camera (or a video file) read through ``cv2.VideoCapture``.

    Parameters
    ----------
    source : str
        A device index ("0"), an RTSP/HTTP URL, or a video file path.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        src: Any = int(source) if source.isdigit() else source
        self._cap = cv2.VideoCapture(src)
        if not self._cap.isOpened():
            raise ImageError(f"camera {source!r}: cannot be opened (no device, URL unreachable or not a video)")
        self._lock = threading.Lock()

    def read(self) -> np.ndarray:
        """The next frame as (H, W, 3) uint8 RGB."""
        with self._lock:
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise ImageError(f"camera {self.source!r}: no frame (end of video or camera disconnected)")
        return np.ascontiguousarray(bgr[..., ::-1])

    def capture_to(self, folder: Any) -> str:
        return write_frame(self.read(), folder)

    def close(self) -> None:
        self._cap.release()


class GenICamCamera:
    """A GenICam camera through ``harvesters`` (``pip install goldenvision[genicam]``).

    Parameters
    ----------
    cti : str
        Path of the GenTL producer (.cti) that the camera vendor ships.
    serial : str, optional
        The camera's serial number (default: the first device).
    """

    def __init__(self, cti: str, serial: str | None = None) -> None:
        try:
            from harvesters.core import Harvester
        except ImportError as exc:
            raise ImportError("GenICam cameras need the 'genicam' extra: pip install 'goldenvision[genicam]'") from exc
        self._h = Harvester()
        self._h.add_file(cti)
        self._h.update()
        if not self._h.device_info_list:
            raise ImageError(f"GenICam: no device found through {cti}")
        self._ia = self._h.create({"serial_number": serial} if serial else 0)
        self._ia.start()

    def read(self) -> np.ndarray:
        with self._ia.fetch() as buffer:
            comp = buffer.payload.components[0]
            img = comp.data.reshape(comp.height, comp.width, -1).copy()
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        if img.dtype != np.uint8:
            img = (img.astype(np.float32) / max(float(img.max()), 1.0) * 255).astype(np.uint8)
        return img[..., :3]

    def capture_to(self, folder: Any) -> str:
        return write_frame(self.read(), folder)

    def close(self) -> None:
        self._ia.stop()
        self._ia.destroy()
        self._h.reset()


def open_camera(source: str) -> OpenCVCamera | GenICamCamera:
    """``genicam:PATH.cti[#SERIAL]`` opens a GenICam camera; anything else goes to OpenCV."""
    if source.startswith("genicam:"):
        cti, _, serial = source[len("genicam:"):].partition("#")
        return GenICamCamera(cti, serial or None)
    return OpenCVCamera(source)
