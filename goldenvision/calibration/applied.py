"""A fitted station profile applied to every photo (``--station PROFILE``).

:class:`StationCalibration` wraps a :class:`~goldenvision.calibration.fitted.CalibrationProfile`
written by ``goldenvision calibrate geometry`` / ``calibrate color``:

1. the photo's size must be the profile camera's (else :class:`CalibrationError`: another camera
   or resolution);
2. the lens model undistorts the photo (remap tables computed once);
3. the colour model becomes the pipeline's colour correction (:attr:`color_correction`): camera
   RGB -> CIELAB D65 through the fitted model, pixel by pixel, inside the colour zones;
4. its product-plane scale (mm per undistorted px) is the unit's scale when the golden has none.

:meth:`record` is what a result carries: the profile's file name and sha256, its schema version
and date, and what it applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import CalibrationError
from .characterisation import ColorModel
from .color import M_XYZ_TO_SRGB, ColorCorrection, srgb_decode
from .fitted import SCHEMA_VERSION, CalibrationProfile, load_calibration, sha256_of

__all__ = ["StationCalibration", "FittedColorCorrection", "load_station_calibration"]


@dataclass(frozen=True, eq=False)
class FittedColorCorrection(ColorCorrection):
    """A station profile's colour model as the pipeline's colour correction.

    ``to_lab`` runs the fitted model itself (any of its expansions, not only 3x3); ``matrix``
    is the least-squares 3x3 closest to it on an RGB grid, for the linear-light helpers.
    """

    model: ColorModel | None = None

    def to_lab(self, rgb: np.ndarray) -> np.ndarray:
        if self.model is None:  # pragma: no cover - always built with a model
            return super().to_lab(rgb)
        return self.model.to_lab(rgb)

    @classmethod
    def from_model(cls, model: ColorModel, *, note: str = "") -> "FittedColorCorrection":
        g = np.linspace(0, 255, 9)
        grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        cam = srgb_decode(grid / 255.0)
        target = model.rgb01_to_xyz(grid / 255.0) @ M_XYZ_TO_SRGB.T
        m = np.linalg.lstsq(cam, target, rcond=None)[0].T
        loo = np.asarray(model.loo_de00, np.float64)
        return cls(matrix=m, residual_de00_mean=float(loo.mean()) if loo.size else math.nan,
                   residual_de00_max=float(loo.max()) if loo.size else math.nan,
                   method=f"station profile: {model.method}", residual_de00=tuple(float(v) for v in loo),
                   note=note, model=model)


@dataclass(frozen=True, eq=False)
class StationCalibration:
    """A fitted profile ready to apply to photos.

    Attributes
    ----------
    profile : CalibrationProfile
    name : str
        The profile's file name.
    sha256 : str
        sha256 of the profile file's bytes.
    color_correction : ColorCorrection or None
        The profile's colour model as the pipeline's correction (None without one).
    """

    profile: CalibrationProfile
    name: str
    sha256: str
    color_correction: ColorCorrection | None = None
    _maps: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def mm_per_px(self) -> float | None:
        return self.profile.mm_per_px

    def apply(self, rgb: np.ndarray, *, name: str = "photo") -> np.ndarray:
        """Check the photo fits the profile and undistort it (colour is applied by the pipeline).

        Raises
        ------
        CalibrationError
            The photo's size is not the profile camera's.
        """
        img = np.asarray(rgb)
        self.profile.check_image(img, name=name)
        if self._maps is None:
            return img
        mx, my = self._maps
        return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def record(self) -> dict[str, Any]:
        """What a result records about the profile applied."""
        p = self.profile
        return {"file": self.name, "sha256": self.sha256, "schema_version": SCHEMA_VERSION, "created_utc": p.created_utc,
                "image_size": None if p.image_size is None else list(p.image_size),
                "lens": None if p.lens is None else p.lens.model, "mm_per_px": p.mm_per_px,
                "color": None if self.color_correction is None else self.color_correction.method}


def load_station_calibration(path: "str | Path") -> StationCalibration:
    """Load a fitted profile for ``--station``.

    Raises
    ------
    CalibrationError
        Unreadable, corrupt, of another schema version (stale), or holding nothing to apply
        (no lens, colour model nor scale).
    """
    p = Path(path)
    prof = load_calibration(p)
    if prof.lens is None and prof.color is None and prof.mm_per_px is None:
        raise CalibrationError(f"calibration profile {p}: holds no lens model, colour model nor mm_per_px; nothing to apply")
    cc = None
    if prof.color is not None:
        cc = FittedColorCorrection.from_model(prof.color_model(), note=f"station profile {p.name}")
    maps = None
    if prof.lens is not None:
        mx, my = prof.lens.undistort_maps()
        maps = (mx, my)
    return StationCalibration(profile=prof, name=p.name, sha256=sha256_of(p), color_correction=cc, _maps=maps)
