"""Fitted calibration profiles: versioned JSON of what ``goldenvision calibrate`` measured.

A profile holds the lens model (intrinsics, distortion, model name), the product-plane scale
(mm per undistorted px), the colour characterisation (method and coefficients) and the flat
field reference, with the date and the sha256 of every image it was fitted on. It is the
measured counterpart of the hand-written YAML station profiles of :mod:`.profile` (which keep
working unchanged).

File format (``schema`` and ``schema_version`` are checked on load)::

    {"schema": "goldenvision.calibration-profile", "schema_version": 1,
     "created_utc": "2026-12-04T09:00:00Z", "image_size": [w, h],
     "images": [{"name": ..., "sha256": ..., "role": "geometry" | "plane" | "color" | "flat-field"}],
     "geometry": {"lens": {...}, "mm_per_px": ..., "report": {...}} | null,
     "color": {...ColorModel.to_dict()..., "report": {...}} | null,
     "flat_field": {"sha256": ..., "sigma_px": ..., "gain_min": ..., "gain_max": ...} | null}
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CalibrationError
from .lens import LensModel

__all__ = ["CalibrationProfile", "load_calibration", "SCHEMA", "SCHEMA_VERSION", "sha256_of"]

SCHEMA = "goldenvision.calibration-profile"
SCHEMA_VERSION = 1


def sha256_of(data: "bytes | str | Path | np.ndarray") -> str:
    """sha256 hex digest of a file's bytes (path), raw bytes, or an array's C-order bytes."""
    if isinstance(data, (str, Path)):
        h = hashlib.sha256()
        with open(data, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    if isinstance(data, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    return hashlib.sha256(bytes(data)).hexdigest()


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite_or_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_or_none(x) for x in v]
    if isinstance(v, np.generic):
        return _finite_or_none(v.item())
    if isinstance(v, np.ndarray):
        return _finite_or_none(v.tolist())
    return v


@dataclass(frozen=True, eq=False)
class CalibrationProfile:
    """A fitted station/camera calibration.

    Attributes
    ----------
    image_size : (int, int) or None
        (width, height) of the camera's photos, px; photos of another size are refused.
    images : tuple of dict
        ``{"name", "sha256", "role"}`` of every image fitted on.
    lens : LensModel or None
    mm_per_px : float or None
        Product-plane scale, mm per undistorted px.
    geometry_report : dict
    color : dict or None
        :meth:`goldenvision.calibration.characterisation.ColorModel.to_dict` plus ``report``.
    flat_field : dict or None
        Flat-field reference: sha256 of the white/grey card photo and its smoothing.
    created_utc : str
        ISO 8601 UTC time the profile was written.
    """

    image_size: tuple[int, int] | None = None
    images: tuple[dict[str, str], ...] = ()
    lens: LensModel | None = None
    mm_per_px: float | None = None
    geometry_report: dict[str, Any] = field(default_factory=dict)
    color: dict[str, Any] | None = None
    flat_field: dict[str, Any] | None = None
    created_utc: str = ""

    def __post_init__(self) -> None:
        if self.mm_per_px is not None and not (0 < float(self.mm_per_px) < 1e3):
            raise CalibrationError(f"CalibrationProfile.mm_per_px: expected in (0, 1000), got {self.mm_per_px}")
        if self.lens is not None and self.image_size is not None and tuple(self.lens.image_size) != tuple(self.image_size):
            raise CalibrationError(f"CalibrationProfile: lens fitted on {self.lens.image_size}, profile image_size {self.image_size}")

    def with_images(self, more: list[dict[str, str]]) -> "CalibrationProfile":
        seen = {(d["sha256"], d["role"]) for d in self.images}
        add = tuple(d for d in more if (d["sha256"], d["role"]) not in seen)
        return replace(self, images=self.images + add)

    def check_image(self, image: np.ndarray, *, name: str = "photo") -> None:
        """Raise CalibrationError when a photo's size is not the profile camera's."""
        if self.image_size is None:
            return
        h, w = np.asarray(image).shape[:2]
        if (w, h) != tuple(self.image_size):
            raise CalibrationError(
                f"{name}: {w}x{h} px, but the calibration profile was fitted on {self.image_size[0]}x{self.image_size[1]} px "
                "photos; is this the same camera and resolution?")

    def to_dict(self) -> dict[str, Any]:
        return _finite_or_none({
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created_utc": self.created_utc or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "image_size": None if self.image_size is None else list(self.image_size),
            "images": [dict(d) for d in self.images],
            "geometry": None if self.lens is None and self.mm_per_px is None else {
                "lens": None if self.lens is None else self.lens.to_dict(),
                "mm_per_px": self.mm_per_px,
                "report": self.geometry_report,
            },
            "color": self.color,
            "flat_field": self.flat_field,
        })

    def save(self, path: "str | Path", *, force: bool = False) -> Path:
        """Write the profile as JSON; an existing file is replaced only with ``force``."""
        p = Path(path)
        if p.exists() and not force:
            raise CalibrationError(f"calibration profile {p}: exists; pass force=True (--force) to replace it")
        d = self.to_dict()
        p.write_text(json.dumps(d, indent=2), encoding="utf-8")
        return p

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "<dict>") -> "CalibrationProfile":
        if not isinstance(d, dict):
            raise CalibrationError(f"calibration profile {where}: expected a JSON object, got {type(d).__name__}")
        if d.get("schema") != SCHEMA:
            raise CalibrationError(f"calibration profile {where}: schema {d.get('schema')!r}, expected {SCHEMA!r}")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise CalibrationError(
                f"calibration profile {where}: schema_version {d.get('schema_version')!r}, this goldenvision reads {SCHEMA_VERSION}")
        try:
            geo = d.get("geometry") or {}
            lens = LensModel.from_dict(geo["lens"]) if geo.get("lens") else None
            size = d.get("image_size")
            images = tuple({"name": str(i["name"]), "sha256": str(i["sha256"]), "role": str(i["role"])} for i in d.get("images", []))
            for i in images:
                if len(i["sha256"]) != 64 or any(c not in "0123456789abcdef" for c in i["sha256"]):
                    raise CalibrationError(f"calibration profile {where}: image {i['name']!r} sha256 {i['sha256']!r} is not 64 hex digits")
            color = d.get("color")
            if color is not None:
                from .characterisation import ColorModel

                ColorModel.from_dict(color)  # validates
            return cls(
                image_size=None if size is None else (int(size[0]), int(size[1])),
                images=images,
                lens=lens,
                mm_per_px=None if geo.get("mm_per_px") is None else float(geo["mm_per_px"]),
                geometry_report=dict(geo.get("report") or {}),
                color=color,
                flat_field=d.get("flat_field"),
                created_utc=str(d.get("created_utc", "")),
            )
        except CalibrationError as exc:
            if where in str(exc):
                raise
            raise CalibrationError(f"calibration profile {where}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CalibrationError(f"calibration profile {where}: invalid or missing field ({exc!r})") from None

    def color_model(self) -> Any:
        """The fitted :class:`~goldenvision.calibration.characterisation.ColorModel`, or None."""
        if self.color is None:
            return None
        from .characterisation import ColorModel

        return ColorModel.from_dict(self.color)


def load_calibration(path: "str | Path") -> CalibrationProfile:
    """Read a profile written by :meth:`CalibrationProfile.save`.

    Raises
    ------
    CalibrationError
        Missing or unreadable file, not JSON, another schema or version, or a bad field
        (the message names the file and the field).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"calibration profile {p}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"calibration profile {p}: not valid JSON ({exc}); corrupt or truncated file?") from None
    return CalibrationProfile.from_dict(data, where=str(p))
