"""Zone regions of the spec as masks in golden px: one definition for colour and anomaly zones."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .errors import ImageError, SpecError

__all__ = ["zone_mask"]

_FILL_SHIFT = 4  # fixed-point fraction bits for cv2.fillPoly (1/16 px vertices)


def zone_mask(region: "str | Sequence[Sequence[float]]", shape_hw: tuple[int, int]) -> np.ndarray:
    """Boolean mask of a zone region in golden px.

    Parameters
    ----------
    region : "full" or sequence of (x, y)
        A polygon of at least 3 vertices in golden px (pixel centres at integers), or "full".
    shape_hw : (int, int)
        Image height and width in px.

    Returns
    -------
    ndarray, shape (H, W), bool
        True inside the polygon (filled by ``cv2.fillPoly`` with 1/16 px vertex precision).

    Raises
    ------
    SpecError
        The region is neither "full" nor a polygon of finite (x, y) points.
    """
    h, w = (int(v) for v in shape_hw)
    if h <= 0 or w <= 0:
        raise ImageError(f"shape_hw: expected positive (H, W), got {tuple(shape_hw)}")
    if isinstance(region, str):
        if region != "full":
            raise SpecError(f"region: expected 'full' or a polygon [[x, y], ...], got {region!r}")
        return np.ones((h, w), dtype=bool)
    try:
        pts = np.asarray(region, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"region: expected a polygon [[x, y], ...] of numbers, got {region!r}") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3 or not np.all(np.isfinite(pts)):
        raise SpecError(f"region: expected at least 3 finite [x, y] points, got array of shape {pts.shape}")
    fixed = np.round(pts * (1 << _FILL_SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=_FILL_SHIFT)
    return canvas.view(bool)
