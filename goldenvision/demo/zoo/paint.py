"""Painting helpers shared by the zoo families: high-resolution masks (text, bars) laid onto a canvas.

A mask is a float32 coverage image at ``MASK_PX_PER_MM`` over a box in product mm; it is the
resolution-independent truth of printed marks (defect footprints are computed on it) and is
resampled onto the canvas texels with a box filter, as the wallet's logo is.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..render import _Canvas

__all__ = ["MASK_PX_PER_MM", "text_mask", "paint_mask", "mask_box_mm", "ean13_modules", "seg_box"]

#: Resolution of the print masks.
MASK_PX_PER_MM = 20.0


def text_mask(lines: "list[str]", box_mm: tuple[float, float, float, float], *, line_h_mm: float,
              font: int = cv2.FONT_HERSHEY_SIMPLEX, weight: float = 0.11) -> np.ndarray:
    """Coverage (0..1) of left-aligned text lines over ``box_mm`` at :data:`MASK_PX_PER_MM`.

    Lines are ``line_h_mm`` apart; cap height about 0.62 x ``line_h_mm``; stroke ``weight`` x
    the cap height. Rendered 4x oversampled and area-reduced (antialiased edges)."""
    ppm = MASK_PX_PER_MM
    x1, y1, x2, y2 = box_mm
    w, h = int(round((x2 - x1) * ppm)), int(round((y2 - y1) * ppm))
    ss = 4
    big = np.zeros((h * ss, w * ss), np.uint8)
    cap_px = 0.62 * line_h_mm * ppm * ss
    (_, th), _ = cv2.getTextSize("H", font, 1.0, 1)
    scale = cap_px / th
    thick = max(1, int(round(weight * cap_px)))
    for i, line in enumerate(lines):
        base_y = int(round((i + 0.5) * line_h_mm * ppm * ss + cap_px / 2))
        cv2.putText(big, line, (0, base_y), font, scale, 255, thick, cv2.LINE_8)
    mask = cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    return mask


def mask_box_mm(mask: np.ndarray, box_mm: tuple[float, float, float, float], threshold: float = 0.02
                ) -> "tuple[float, float, float, float] | None":
    """Bounding box (product mm) of the mask's pixels above ``threshold`` (None if none)."""
    rows = np.nonzero(mask.max(axis=1) > threshold)[0]
    cols = np.nonzero(mask.max(axis=0) > threshold)[0]
    if rows.size == 0:
        return None
    p = MASK_PX_PER_MM
    return (box_mm[0] + cols.min() / p, box_mm[1] + rows.min() / p, box_mm[0] + (cols.max() + 1) / p,
            box_mm[1] + (rows.max() + 1) / p)


def paint_mask(cv: _Canvas, mask: np.ndarray, box_mm: tuple[float, float, float, float], rgb: np.ndarray, *,
               dx_mm: float = 0.0, dy_mm: float = 0.0, opacity: float = 1.0) -> None:
    """Paint ``rgb`` with the coverage of ``mask`` (over ``box_mm``, shifted by ``dx, dy`` mm)."""
    ppm = MASK_PX_PER_MM
    x1, y1 = box_mm[0] + dx_mm, box_mm[1] + dy_mm
    x2, y2 = x1 + mask.shape[1] / ppm, y1 + mask.shape[0] / ppm
    rs, cs, _, _ = cv.roi((x1, y1, x2, y2))
    if rs.stop <= rs.start or cs.stop <= cs.start:
        return
    to_hr = np.array([[ppm, 0, -x1 * ppm - 0.5], [0, ppm, -y1 * ppm - 0.5], [0, 0, 1.0]])
    tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
    paint_coverage(cv, rs, cs, mask, to_hr @ tex, ppm, rgb, opacity=opacity)


def paint_coverage(cv: _Canvas, rs: slice, cs: slice, mask: np.ndarray, texel_to_mask: np.ndarray, mask_ppm: float,
                   rgb: np.ndarray, *, opacity: float = 1.0) -> None:
    """Paint ``rgb`` over the canvas rows/columns ``rs, cs`` with the coverage of ``mask``, where
    ``texel_to_mask`` (3x3) maps a texel of that region to mask px and the mask has ``mask_ppm``
    px per mm (box-filtered first when a texel is bigger than a mask pixel)."""
    src = mask
    if cv.t * mask_ppm > 1.0:
        k = max(1, int(round(cv.t * mask_ppm)))
        src = cv2.blur(mask, (k, k), borderType=cv2.BORDER_CONSTANT)
    cov = cv2.warpAffine(src, texel_to_mask[:2], (cs.stop - cs.start, rs.stop - rs.start),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    cv.paint(rs, cs, np.clip(cov * float(opacity), 0.0, 1.0).astype(np.float32), rgb)


_EAN_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011")
_EAN_PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")


def ean13_modules(digits: str) -> str:
    """The 95 modules ("1" = bar) of an EAN-13 code (GS1 General Specifications §5.2.1)."""
    if len(digits) != 13 or not digits.isdigit():
        raise ValueError(f"EAN-13: expected 13 digits, got {digits!r}")
    d = [int(c) for c in digits]
    check = (10 - sum(v * (3 if i % 2 else 1) for i, v in enumerate(d[:12])) % 10) % 10
    if check != d[12]:
        raise ValueError(f"EAN-13 {digits}: check digit should be {check}")
    out = "101"
    for ch, par in zip(d[1:7], _EAN_PARITY[d[0]]):
        code = _EAN_L[ch]
        out += code if par == "L" else code.translate(str.maketrans("01", "10"))[::-1]
    out += "01010"
    for ch in d[7:]:
        out += _EAN_L[ch].translate(str.maketrans("01", "10"))
    return out + "101"


def soft_segment(x: np.ndarray, y: np.ndarray, p0: np.ndarray, p1: np.ndarray, half_w: float, soft_mm: float) -> np.ndarray:
    """Coverage of a capsule with a soft rim ``soft_mm`` wide (1 inside, 0 beyond half_w + soft/2)."""
    d = p1 - p0
    t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
    dist = np.hypot(x - (p0[0] + t * d[0]), y - (p0[1] + t * d[1])) - half_w
    return np.clip(0.5 - dist / max(soft_mm, 1e-6), 0.0, 1.0).astype(np.float32)


def seg_box(p0: np.ndarray, p1: np.ndarray, r: float) -> tuple[float, float, float, float]:
    """Bounding box (mm) of a segment ``p0``-``p1`` grown by ``r`` on every side."""
    return (float(min(p0[0], p1[0]) - r), float(min(p0[1], p1[1]) - r), float(max(p0[0], p1[0]) + r),
            float(max(p0[1], p1[1]) + r))


def seg_ends(center: tuple[float, float], length: float, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(center, np.float64)
    u = np.array([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    return c - u * length / 2, c + u * length / 2
