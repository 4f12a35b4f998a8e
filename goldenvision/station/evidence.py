"""The operator's picture of a unit: golden | unit in golden px with its anomaly heat map."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["picture_layout", "picture_to_golden", "side_by_side"]


def _heat(rgb: np.ndarray, amap: np.ndarray | None) -> np.ndarray:
    """Anomaly map (1.0 = the zone's threshold) over a dimmed copy of the image.

    Below half the threshold nothing is drawn, so a good unit looks like itself; from there
    to twice the threshold the colour runs through the 'inferno' map and its opacity grows.
    """
    if amap is None:
        return rgb
    a: np.ndarray = np.nan_to_num(np.asarray(amap, np.float32), nan=0.0)
    if a.shape != rgb.shape[:2]:
        a = cv2.resize(a, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    t = np.clip((a - 0.5) / 1.5, 0.0, 1.0)
    colours = cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    alpha = (0.85 * np.sqrt(t))[..., None]
    base = rgb.astype(np.float32) * 0.6
    out = base * (1 - alpha) + colours.astype(np.float32) * alpha
    hot = a >= 1.0
    if hot.any():
        contours, _ = cv2.findContours(hot.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = np.ascontiguousarray(out.astype(np.uint8))
        cv2.drawContours(out, contours, -1, (0, 255, 255), 2)
    return out.astype(np.uint8)


def picture_layout(golden_shape: tuple[int, ...], *, width: int = 900) -> tuple[int, float]:
    """(x offset of the unit in golden px within the picture, picture px per golden px)."""
    w = int(golden_shape[1])
    gap = max(4, w // 100)
    return w + gap, width / (2 * w + gap)


def picture_to_golden(box: Any, golden_shape: tuple[int, ...], *, width: int = 900) -> tuple[float, float, float, float]:
    """A box drawn on the unit's half of :func:`side_by_side`'s picture -> golden px.

    A box drawn on the golden's half is read as the same place on the unit (both halves share
    the golden frame), so an operator may mark either side.
    """
    x0, f = picture_layout(golden_shape, width=width)
    x1, y1, x2, y2 = (float(v) / f for v in box)
    w = int(golden_shape[1])
    if min(x1, x2) >= x0 - 0.5 * (x0 - w):  # on (or in the gap before) the unit's half
        x1, x2 = x1 - x0, x2 - x0
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def side_by_side(golden_rgb: np.ndarray, unit_rgb: np.ndarray, result: Any, *, width: int = 900) -> np.ndarray:
    """Golden reference beside the unit warped into golden px, with the unit's heat map.

    Parameters
    ----------
    golden_rgb : ndarray (H, W, 3) uint8
        The golden reference (golden px).
    unit_rgb : ndarray (h, w, 3) uint8
        The unit's photo as judged (unit px).
    result : UnitResult
        Its ``registration.homography`` (unit px -> golden px) places the unit; without an
        accepted registration the unit is shown as photographed, scaled to the golden's size.
    width : int
        Width of the returned picture in px.
    """
    h, w = golden_rgb.shape[:2]
    x0, f = picture_layout(golden_rgb.shape, width=width)
    reg = getattr(result, "registration", None)
    if reg is not None and getattr(reg, "ok", False) and unit_rgb.shape[:2] != (0, 0):
        try:
            unit = cv2.warpPerspective(unit_rgb, np.asarray(reg.homography, np.float64), (w, h),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        except cv2.error:
            unit = cv2.resize(unit_rgb, (w, h), interpolation=cv2.INTER_AREA)
        unit = _heat(unit, getattr(result, "anomaly_map", None))
        for d in getattr(result, "defects", ()) or ():
            x1, y1, x2, y2 = (int(v) for v in d.bbox)
            cv2.rectangle(unit, (x1, y1), (x2, y2), (255, 40, 40), max(2, w // 400))
    else:
        unit = cv2.resize(unit_rgb, (w, h), interpolation=cv2.INTER_AREA)
    gap = np.full((h, x0 - w, 3), 255, np.uint8)
    both = np.concatenate([golden_rgb, gap, unit], axis=1)
    return cv2.resize(both, (width, max(1, round(both.shape[0] * f))), interpolation=cv2.INTER_AREA)
