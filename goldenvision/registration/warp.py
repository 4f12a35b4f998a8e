"""Resampling of a unit image into the reference (golden) frame after registration."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ImageError
from ..results import RegistrationResult

__all__ = ["warp_to_reference"]


def _source_coords(hi: np.ndarray, flow: np.ndarray | None, hh: int, ww: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Source px (float32 maps) of every reference px through the inverse homography ``hi``,
    and the denominator (None when it is the same positive constant everywhere).

    The arithmetic is float64 in the same order as ``(hi00*x + hi01*y + hi02) / den`` on full
    grids, so the maps are bit-identical to that; rows and columns are broadcast instead of
    materialising coordinate grids, and an affine ``hi`` skips the per-pixel denominator.
    """
    xs = np.arange(ww, dtype=np.float32)[None, :]
    ys = np.arange(hh, dtype=np.float32)[:, None]
    if flow is None:
        px: np.ndarray = xs
        py: np.ndarray = ys
    else:
        px = xs + flow[..., 0]
        py = ys + flow[..., 1]
    affine = hi[2, 0] == 0.0 and hi[2, 1] == 0.0
    den = None if affine else hi[2, 0] * px + hi[2, 1] * py + hi[2, 2]
    maps = []
    for r in (0, 1):
        m = hi[r, 0] * px + hi[r, 1] * py  # float64 (hh, ww)
        m += hi[r, 2]
        if den is None:
            m /= hi[2, 2]
        else:
            m /= den
        maps.append(m.astype(np.float32))
    return maps[0], maps[1], den


def warp_to_reference(moving: np.ndarray, result: RegistrationResult, shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``moving`` into reference px.

    Parameters
    ----------
    moving : ndarray, (h, w, 3) or (h, w), uint8 (or float32)
    result : RegistrationResult
    shape_hw : (H, W) of the reference frame in px.

    Returns
    -------
    warped : ndarray, (H, W[, 3]), same dtype as ``moving``
    valid : ndarray, (H, W) bool
        True where the moving image covers the reference pixel with all four bilinear
        neighbours (a sample blended with the border fill is not valid).
    """
    if not isinstance(moving, np.ndarray) or moving.ndim not in (2, 3) or (moving.ndim == 3 and moving.shape[2] not in (1, 3)):
        raise ImageError(f"moving: expected (H, W, 3) or (H, W) array, got {getattr(moving, 'shape', type(moving))}")
    if moving.dtype not in (np.uint8, np.float32):
        raise ImageError(f"moving: expected dtype uint8 or float32, got {moving.dtype}")
    hh, ww = int(shape_hw[0]), int(shape_hw[1])
    if result.flow is not None and result.flow.shape[:2] != (hh, ww):
        raise ImageError(f"result.flow: expected shape {(hh, ww, 2)}, got {result.flow.shape}")
    hi = np.linalg.inv(result.homography)
    mx, my, den = _source_coords(hi, result.flow, hh, ww)
    warped = cv2.remap(moving, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    h_m, w_m = moving.shape[:2]
    # only pixels with full bilinear support: a sample within half a pixel outside the image is
    # blended with the black fill and would read as a dark strip along the frame
    valid = (mx >= 0) & (mx <= w_m - 1)
    valid &= my >= 0
    valid &= my <= h_m - 1
    if den is not None:
        valid &= den > 0
    elif not hi[2, 2] > 0:
        valid[:] = False
    return warped, valid
