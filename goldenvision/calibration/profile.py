"""Station profiles: the light box's geometry (fiducials, metric frame) and colour chart.

A profile defines the **station frame**: the platen seen from above, in mm, origin at its
top-left, x right, y down. Rectified images of that frame have ``scale_mm_per_px`` mm per
pixel, so a distance in rectified px times the scale is a distance in mm on the platen.
Shipped profiles live in ``goldenvision/calibration/profiles/<id>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml

from ..errors import CalibrationError

__all__ = ["ChartLayout", "StationProfile", "load_profile", "PROFILES_DIR"]

#: Shipped station profiles (package data, so a wheel carries them).
PROFILES_DIR = Path(str(resources.files("goldenvision.calibration").joinpath("profiles")))


@dataclass(frozen=True)
class ChartLayout:
    """A colour chart at a fixed place on the platen.

    Attributes
    ----------
    names : tuple of str
        Patch names, row-major.
    lab_ref : ndarray, shape (N, 3), float64
        Reference CIELAB of each patch under ``illuminant``/``observer``.
    centers_mm : ndarray, shape (N, 2), float64
        Patch centres (x, y) in station-frame mm.
    patch_mm : float
        Patch side in mm.
    """

    name: str
    names: tuple[str, ...]
    lab_ref: np.ndarray
    centers_mm: np.ndarray
    patch_mm: float
    illuminant: str = "D65"
    observer: int = 2


@dataclass(frozen=True)
class StationProfile:
    """Geometry and colour reference of one inspection station.

    Attributes
    ----------
    id : str
    scale_mm_per_px : float
        mm per pixel of the rectified frame.
    frame_mm : tuple of float
        (width, height) of the station frame in mm.
    marker_dictionary : str or None
        OpenCV ArUco dictionary name (e.g. "DICT_4X4_50"), None when the station has no fiducials.
    marker_corners_mm : dict of int to ndarray (4, 2)
        Each marker's corners in station mm, in OpenCV's order (top-left, top-right,
        bottom-right, bottom-left as printed).
    chart : ChartLayout or None
    camera_matrix, dist_coeffs : ndarray or None
        Intrinsics from a chessboard calibration (OpenCV model), None if not calibrated.
    """

    id: str
    scale_mm_per_px: float
    frame_mm: tuple[float, float]
    marker_dictionary: str | None = None
    marker_size_mm: float = 0.0
    marker_corners_mm: dict[int, np.ndarray] = field(default_factory=dict)
    chart: ChartLayout | None = None
    product_area_mm: tuple[float, float, float, float] | None = None
    camera_matrix: np.ndarray | None = None
    dist_coeffs: np.ndarray | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def frame_px(self) -> tuple[int, int]:
        """(width, height) of the rectified frame in px."""
        return (
            int(round(self.frame_mm[0] / self.scale_mm_per_px)),
            int(round(self.frame_mm[1] / self.scale_mm_per_px)),
        )

    def mm_to_px(self, pts_mm: np.ndarray) -> np.ndarray:
        """Station mm -> rectified px (pixel centres at integer coordinates)."""
        return np.asarray(pts_mm, dtype=np.float64) / self.scale_mm_per_px - 0.5

    def px_to_mm(self, pts_px: np.ndarray) -> np.ndarray:
        """Rectified px -> station mm."""
        return (np.asarray(pts_px, dtype=np.float64) + 0.5) * self.scale_mm_per_px


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise CalibrationError(f"station profile {where}: missing key {key!r}")
    return d[key]


def load_profile(source: "str | Path | dict[str, Any] | StationProfile") -> StationProfile:
    """Load a station profile from a shipped name, a YAML path or a dict.

    Raises
    ------
    CalibrationError
        Unknown name, unreadable file, or a missing/invalid key (named in the message).
    """
    if isinstance(source, StationProfile):
        return source
    where = "<dict>"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.suffix and not path.exists():
            path = PROFILES_DIR / f"{source}.yaml"
        where = str(source)
        if not path.is_file():
            known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
            raise CalibrationError(f"station profile {where}: not a file nor a shipped profile {known}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise CalibrationError(f"station profile {where}: cannot read ({exc})") from None
    else:
        data = dict(source)
    if not isinstance(data, dict):
        raise CalibrationError(f"station profile {where}: expected a mapping, got {type(data).__name__}")
    try:
        scale = float(_need(data, "scale_mm_per_px", where))
        frame = tuple(float(v) for v in _need(data, "frame_mm", where))
        if not (0 < scale <= 100) or len(frame) != 2 or min(frame) <= 0:
            raise CalibrationError(
                f"station profile {where}: expected scale_mm_per_px in (0, 100] and frame_mm [w, h] > 0, "
                f"got {scale}, {list(frame)}"
            )
        corners: dict[int, np.ndarray] = {}
        dictionary = None
        size = 0.0
        if data.get("markers"):
            m = data["markers"]
            dictionary = str(_need(m, "dictionary", where + ".markers"))
            size = float(_need(m, "size_mm", where + ".markers"))
            h = size / 2.0
            offsets = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
            for k, c in _need(m, "centers_mm", where + ".markers").items():
                corners[int(k)] = np.asarray(c, dtype=np.float64).reshape(1, 2) + offsets
        chart = None
        if data.get("chart"):
            c = data["chart"]
            w = where + ".chart"
            patches = _need(c, "patches", w)
            cols = int(_need(c, "columns", w))
            pitch = float(_need(c, "pitch_mm", w))
            patch = float(_need(c, "patch_mm", w))
            ox, oy = (float(v) for v in _need(c, "origin_mm", w))
            centers = np.array(
                [[ox + (i % cols) * pitch + patch / 2, oy + (i // cols) * pitch + patch / 2] for i in range(len(patches))]
            )
            chart = ChartLayout(
                name=str(c.get("name", "chart")),
                names=tuple(str(p["name"]) for p in patches),
                lab_ref=np.array([p["lab"] for p in patches], dtype=np.float64),
                centers_mm=centers,
                patch_mm=patch,
                illuminant=str(c.get("illuminant", "D65")),
                observer=int(c.get("observer", 2)),
            )
        cam = data.get("camera") or {}
        return StationProfile(
            id=str(data.get("id", Path(where).stem)),
            scale_mm_per_px=scale,
            frame_mm=(frame[0], frame[1]),
            marker_dictionary=dictionary,
            marker_size_mm=size,
            marker_corners_mm=corners,
            chart=chart,
            product_area_mm=None if not data.get("product_area_mm") else cast(
                "tuple[float, float, float, float]", tuple(float(v) for v in data["product_area_mm"])),
            camera_matrix=None if "matrix" not in cam else np.asarray(cam["matrix"], dtype=np.float64),
            dist_coeffs=None if "dist" not in cam else np.asarray(cam["dist"], dtype=np.float64),
            raw=data,
        )
    except CalibrationError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise CalibrationError(f"station profile {where}: invalid value ({exc})") from None
