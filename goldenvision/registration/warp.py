"""Resampling of a unit image into the reference (golden) frame after registration."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ImageError
from ..results import RegistrationResult

__all__ = ["warp_to_reference"]

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
    ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float32)
    px, py = xs, ys
    if result.flow is not None:
        if result.flow.shape[:2] != (hh, ww):
            raise ImageError(f"result.flow: expected shape {(hh, ww, 2)}, got {result.flow.shape}")
        px = xs + result.flow[..., 0]
        py = ys + result.flow[..., 1]
    hi = np.linalg.inv(result.homography)
    den = hi[2, 0] * px + hi[2, 1] * py + hi[2, 2]
    mx = ((hi[0, 0] * px + hi[0, 1] * py + hi[0, 2]) / den).astype(np.float32)
    my = ((hi[1, 0] * px + hi[1, 1] * py + hi[1, 2]) / den).astype(np.float32)
    warped = cv2.remap(moving, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    h_m, w_m = moving.shape[:2]
    # only pixels with full bilinear support: a sample within half a pixel outside the image is
    # blended with the black fill and would read as a dark strip along the frame
    valid = (mx >= 0) & (mx <= w_m - 1) & (my >= 0) & (my <= h_m - 1) & (den > 0)
    return warped, valid
