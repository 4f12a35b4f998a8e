"""The fitted-zone record and the input checks shared by the anomaly modules (internal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..errors import ImageError, SpecError
from ..spec import AnomalyZone
from ..zones import zone_mask

__all__ = ["_Zone", "_check_image", "_check_mask", "_zone_mask", "_bbox", "_f16", "_pseudo_captures"]


@dataclass
class _Zone:
    spec: AnomalyZone
    method: str
    mask: np.ndarray  # (H, W) bool
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 exclusive
    good_scores: list[float] = field(default_factory=list)
    #: held-out scores of accepted production units (feature zones; see ``add_good``)
    unit_scores: list[float] = field(default_factory=list)
    #: the golden captures differ as much as another unit's texture would (``zone_variation.captures_vary``)
    captures_vary: bool = False
    #: held-out scores of taught production units in a texture zone's full-resolution channel (:mod:`.fine`)
    fine_scores: list[float] = field(default_factory=list)
    #: leave-one-out scores of the golden captures in that channel (captures of several units, :mod:`.fine`)
    fine_loo: list[float] = field(default_factory=list)
    threshold: float = 1.0


def _check_image(img: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ImageError(f"{name}: expected (H, W, 3) uint8 RGB in golden px, got {a.shape} {a.dtype}")
    if shape is not None and a.shape[:2] != shape:
        raise ImageError(f"{name}: expected the golden frame size {shape} (H, W), got {a.shape[:2]}")
    return a


def _check_mask(m: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    if m is None:
        return np.ones(shape, bool)
    a = np.asarray(m)
    if a.shape != shape:
        raise ImageError(f"{name}: expected a bool mask of shape {shape}, got {a.shape} {a.dtype}")
    return a.astype(bool)


def _zone_mask(zone: AnomalyZone, shape: tuple[int, int]) -> np.ndarray:
    mask = zone_mask("full" if zone.region is None else zone.region, shape)
    if not mask.any():
        raise SpecError(f"anomaly_zones[{zone.name}].region: polygon lies outside the golden frame {shape[::-1]} (W, H)")
    return mask


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _f16(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def _pseudo_captures(img: np.ndarray, valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sub-pixel shifted copies standing in for repeat captures when only one exists."""
    out = []
    h, w = img.shape[:2]
    for dx, dy in ((0.35, 0.0), (-0.35, 0.0), (0.0, 0.35), (0.0, -0.35)):
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        out.append(
            (
                cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
                cv2.warpAffine(valid.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST).astype(bool) & valid,
            )
        )
    return out
