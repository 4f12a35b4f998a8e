"""Zoo family "label": a printed die-cut paper label with a colour band, text and an EAN-13 barcode.

Design (product mm, origin at the label's centre, x right, y down): paper ``label_width`` x 50 mm
(80 mm nominal), corners
r = 2 mm, a fibre texture of 0.35 L*; a red band 76 mm x ``band_height`` (12 mm) with the
title knocked out in paper white; three lines of black text; an EAN-13 (0.33 mm modules,
31.35 mm wide, 15 mm bars) with its digits. All the print shifts together by the unit's
print registration offset (production variation, ±0.15 mm); the ink density varies ±0.5 L*.

Defects (realistic size and contrast for a thermal-transfer / flexo label):

* ``missing_print``: the ink of one text line is missing over 5-9 mm (ribbon wrinkle);
* ``smear``: a dragged ink smear, 5-9 mm long, 1.2-2 mm wide, 55-75 % ink over the text;
* ``barcode_void``: a dead print-head dot line, 0.35-0.6 mm of white across every bar;
* a colour shift of the band or the paper is the lot's ``color`` fault.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import (
    MASK_PX_PER_MM,
    ean13_modules,
    mask_box_mm,
    paint_mask,
    seg_box,
    seg_ends,
    soft_segment,
    text_mask,
)

__all__ = ["LabelFamily"]

_H, _R = 50.0, 2.0
_BAND_X = (-38.0, 38.0)
_BAND_TOP = -22.0
_TEXT_BOX = (-37.0, -6.0, 3.0, 8.4)  # three lines, 4.8 mm apart
_TEXT_LINE_MM = 4.8
_TEXT = ["LOT 0412   QTY 24", "REF GV-7342-B", "MADE IN EU 05/2026"]
_TITLE_BOX = (-34.0, -20.0, 14.0, -12.0)
_BAR_X0, _MODULE_MM = 5.5, 0.33
_BAR_Y = (-5.0, 10.0)
_DIGITS = "4006381333931"
_DIGIT_BOX = (4.5, 10.6, 38.0, 14.2)
_LAB_INK = (18.0, 0.0, 0.0)


@functools.lru_cache(maxsize=1)
def _masks() -> dict[str, tuple[np.ndarray, tuple[float, float, float, float]]]:
    """High-resolution coverage masks of the label's print (text, title, barcode, digits)."""
    out = {"text": (text_mask(_TEXT, _TEXT_BOX, line_h_mm=_TEXT_LINE_MM), _TEXT_BOX),
           "title": (text_mask(["GOLDENVISION"], _TITLE_BOX, line_h_mm=8.0, weight=0.16), _TITLE_BOX),
           "digits": (text_mask([" ".join([_DIGITS[0], _DIGITS[1:7], _DIGITS[7:]])], _DIGIT_BOX, line_h_mm=3.6), _DIGIT_BOX)}
    mods = ean13_modules(_DIGITS)
    p = MASK_PX_PER_MM
    box = (_BAR_X0, _BAR_Y[0], _BAR_X0 + len(mods) * _MODULE_MM, _BAR_Y[1])
    w, h = int(round((box[2] - box[0]) * p)), int(round((box[3] - box[1]) * p))
    edges = _BAR_X0 + np.arange(len(mods) + 1) * _MODULE_MM
    cols = box[0] + (np.arange(w + 1)) / p  # mask pixel edges
    row = np.zeros(w, np.float32)
    for i, m in enumerate(mods):
        if m == "1":
            lo, hi = edges[i], edges[i + 1]
            row += np.clip(np.minimum(cols[1:], hi) - np.maximum(cols[:-1], lo), 0.0, None).astype(np.float32) * p
    bars = np.repeat(row[None, :], h, axis=0)
    out["barcode"] = (bars, box)
    for arr, _ in out.values():
        arr.setflags(write=False)
    return out


def _line_box(i: int) -> tuple[float, float, float, float]:
    x1, y1, x2, _ = _TEXT_BOX
    return (x1, y1 + i * _TEXT_LINE_MM, x2, y1 + (i + 1) * _TEXT_LINE_MM)


class LabelFamily(Family):
    name = "label"
    product = "label-ean-80x50"
    box_mm = (-42.0, -27.0, 42.0, 27.0)
    outline_mm = [(-40.0, -25.0), (40.0, -25.0), (40.0, 25.0), (-40.0, 25.0)]
    color_zones = {
        "band": {"polygon_mm": [(16.0, -20.0), (36.0, -20.0), (36.0, -12.0), (16.0, -12.0)],
                 "target": (47.0, 58.0, 38.0), "golden": (47.2, 57.7, 38.3), "tolerance": 2.0, "weights": (1.0, 1.0, 1.0),
                 "name": "Label red 485 (demo)"},
        "paper": {"polygon_mm": [(-36.0, 17.0), (-6.0, 17.0), (-6.0, 23.0), (-36.0, 23.0)],
                  "target": (93.0, 0.0, 2.0), "golden": (93.2, 0.2, 2.3), "tolerance": 1.5, "weights": (1.0, 1.0, 1.0),
                  "name": "Label stock white (demo)"},
    }
    dimensions = {
        "label_width": {"nominal": 80.0, "tol": 0.5, "measure": "width",
                        "caliper_mm": {"center": (0.0, 20.5), "angle_deg": 0.0, "length": 96.0, "width": 2.0}},
        "band_height": {"nominal": 12.0, "tol": 0.3, "measure": "width",
                        "caliper_mm": {"center": (30.0, -16.0), "angle_deg": 90.0, "length": 17.0, "width": 2.0}},
    }
    anomaly_zones = {
        "band": {"polygon_mm": [(-39.0, -24.0), (39.0, -24.0), (39.0, -8.0), (-39.0, -8.0)], "defect_type": "print"},
        "text": {"polygon_mm": [(-39.0, -8.0), (4.5, -8.0), (4.5, 10.5), (-39.0, 10.5)], "defect_type": "print"},
        "barcode": {"polygon_mm": [(4.5, -7.0), (39.0, -7.0), (39.0, 15.5), (4.5, 15.5)], "defect_type": "print"},
        "paper": {"polygon_mm": [(-39.0, 15.5), (39.0, 15.5), (39.0, 24.0), (-39.0, 24.0)], "defect_type": "finish"},
    }
    defect_zone = {"missing_print": "text", "smear": "text", "barcode_void": "barcode"}
    variation = {"print_dx_mm": (0.0, 0.15), "print_dy_mm": (0.0, 0.15), "ink_density_l": (0.0, 0.5)}
    marker_spot_mm = (-66.0, 0.0)
    ruler_spot_mm = (0.0, 46.0)

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "missing_print":
            line = int(rng.integers(3))
            w = float(rng.uniform(5.0, 9.0))
            x = float(rng.uniform(_TEXT_BOX[0] + 4.5, _TEXT_BOX[0] + 20.0))
            return ZooDefect(kind, center_mm=(x, 0.0), length_mm=w, index=line), f"text line {line + 1}: {w:.1f} mm of print missing"
        if kind == "smear":
            ln, wd = float(rng.uniform(5.0, 9.0)), float(rng.uniform(1.2, 2.0))
            c = (float(rng.uniform(-30.0, -8.0)), float(rng.uniform(-3.0, 5.0)))
            return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=float(rng.uniform(-20.0, 20.0)),
                              strength=float(rng.uniform(0.55, 0.75))), f"ink smear {ln:.1f} x {wd:.1f} mm over the text")
        if kind == "barcode_void":
            h = float(rng.uniform(0.35, 0.6))
            y = float(rng.uniform(_BAR_Y[0] + 2.0, _BAR_Y[1] - 2.0))
            return ZooDefect(kind, center_mm=(0.0, y), width_mm=h), f"print-head void {h:.2f} mm across the barcode"
        raise ValueError(kind)

    def _removed(self, d: ZooDefect) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        """The ink a missing-print / void defect removes (mask over its box, product mm, unshifted)."""
        p = MASK_PX_PER_MM
        if d.kind == "missing_print":
            mask, box = _masks()["text"]
            lb = _line_box(d.index)
            r0, r1 = int(round((lb[1] - box[1]) * p)), int(round((lb[3] - box[1]) * p))
            c0 = int(round((d.center_mm[0] - d.length_mm / 2 - box[0]) * p))
            c1 = int(round((d.center_mm[0] + d.length_mm / 2 - box[0]) * p))
        else:
            mask, box = _masks()["barcode"]
            r0 = int(round((d.center_mm[1] - d.width_mm / 2 - box[1]) * p))
            r1 = int(round((d.center_mm[1] + d.width_mm / 2 - box[1]) * p))
            c0, c1 = 0, mask.shape[1]
        out = np.zeros_like(mask)
        out[r0:r1, c0:c1] = mask[r0:r1, c0:c1]
        return out, box

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        if d.kind == "smear":  # a smear lies where it was dragged, whatever the print offset
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            r = d.width_mm / 2 + 0.25  # soft rim
            box = seg_box(p0, p1, r)
            return box, d.length_mm * d.width_mm + math.pi * (d.width_mm / 2) ** 2
        removed, box = self._removed(d)
        b = mask_box_mm(removed, box)
        area = float(removed.sum()) / MASK_PX_PER_MM**2
        if b is None:  # pragma: no cover - every drawn defect removes ink
            raise ValueError(f"{d}: removes no ink")
        dx, dy = unit.var("print_dx_mm"), unit.var("print_dy_mm")  # the missing ink moved with the print
        return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy), area

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        rng = np.random.default_rng([int(u.texture_seed), 31])
        paper = u.lab("paper")
        hw = u.dim("label_width") / 2.0
        rs, cs, X, Y = cv.roi((-hw, -_H / 2, hw, _H / 2))
        cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, 0.0, 0.0, hw, _H / 2, _R))
        fib = _noise_field(rng, (cv.h, cv.w), 0.4 / cv.t)[rs, cs] + 0.5 * _noise_field(rng, (cv.h, cv.w), 0.15 / cv.t)[rs, cs]
        fib = (fib - fib[cov > 0.5].mean()) / max(float(fib[cov > 0.5].std()), 1e-6) * 0.35
        cv.paint(rs, cs, cov, _rgb_from_l(paper[0] + fib, paper, paper[0] - 3, paper[0] + 3))
        dx, dy = u.var("print_dx_mm"), u.var("print_dy_mm")
        dens = u.var("ink_density_l")
        # band (exact rectangle coverage), its title knocked out in paper white
        band = u.lab("band")
        top = _BAND_TOP + dy
        rs, cs, bcov = cv.rect_coverage((_BAND_X[0] + dx, top, _BAND_X[1] + dx, top + u.dim("band_height")))
        cv.paint(rs, cs, bcov, lab_to_linear_srgb(band))
        title, tbox = _masks()["title"]
        paint_mask(cv, title, tbox, lab_to_linear_srgb(paper), dx_mm=dx, dy_mm=dy)
        ink = lab_to_linear_srgb((_LAB_INK[0] + dens, _LAB_INK[1], _LAB_INK[2]))
        defects = {d.kind: d for d in u.defects}
        for key in ("text", "barcode", "digits"):
            mask, box = _masks()[key]
            kind = {"text": "missing_print", "barcode": "barcode_void"}.get(key)
            if kind in defects:
                mask = mask - self._removed(defects[kind])[0]
            paint_mask(cv, mask, box, ink, dx_mm=dx, dy_mm=dy)
        if "smear" in defects:
            d = defects["smear"]
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            r = d.width_mm / 2 + 0.3
            rs, cs, X, Y = cv.roi(seg_box(p0, p1, r))
            # streaky drag: the opacity fades along the smear and varies across it
            t = np.clip(((X - p0[0]) * (p1[0] - p0[0]) + (Y - p0[1]) * (p1[1] - p0[1])) / (d.length_mm**2), 0.0, 1.0)
            streak = 0.8 + 0.2 * np.cos(2 * np.pi * ((Y - d.center_mm[1]) / 0.45))
            c = soft_segment(X, Y, p0, p1, d.width_mm / 2, 0.5) * (d.strength * (1.0 - 0.5 * t) * streak).astype(np.float32)
            cv.paint(rs, cs, np.clip(c, 0.0, 1.0), ink)
