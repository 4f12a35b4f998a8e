"""Zoo family "apparel": a woven fabric panel (a garment's chest piece) with a two-colour print and seams.

Design (product mm, origin at the panel's centre, x right, y down): a cut panel
``panel_width`` (90 mm) x 64 mm of plain-weave cotton (warp and weft 0.55 mm apart, a yarn
relief of ±1.3 L* and slubs, zero-mean over the panel), a hem along the bottom (a folded band
5 mm high, shaded) stitched with a row of stitches, a side seam along the left, and a
two-colour screen print: a red disc Ø ``print_diameter`` (24 mm) with a white "GV" on it.

Production variation: the weave's skew (±0.4 deg) and phase, the print's placement (±0.3 mm)
and ink density, the yarn (texture seed).

Defects (realistic size and contrast for cut-and-sewn apparel):

* ``stain``: an oily stain 3-6 mm across, ΔL* -8 to -12 with a soft rim;
* ``misregistration``: the white layer of the print 0.8-1.5 mm off the red one;
* ``seam_slip``: 1-3 stitches of the hem missing (the seam opens);
* a dye-lot shift of the fabric (or an off-shade ink) is the lot's ``color`` fault.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import MASK_PX_PER_MM, mask_box_mm, paint_mask, text_mask

__all__ = ["ApparelFamily"]

_H = 64.0
_PRINT_C = (8.0, -6.0)
_WEAVE_MM = 0.55
_HEM_Y = (25.0, 30.0)  # hem band (y from, to)
_STITCH_Y = 27.5
_STITCH_PITCH, _STITCH_LEN, _STITCH_W = 3.0, 2.0, 0.6
_N_STITCH = 27
_SIDE_X = -40.0
_LAB_THREAD = (30.0, 2.0, -6.0)
_LAB_WHITE_INK = (92.0, -0.5, 3.0)
_GRID = 0.05


@functools.lru_cache(maxsize=1)
def _gv_mask() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    box = (_PRINT_C[0] - 7.5, _PRINT_C[1] - 4.5, _PRINT_C[0] + 8.5, _PRINT_C[1] + 5.0)
    m = text_mask(["GV"], box, line_h_mm=9.5, weight=0.2)
    m.setflags(write=False)
    return m, box


def _stitch_x(i: int) -> float:
    return (i - (_N_STITCH - 1) / 2.0) * _STITCH_PITCH


def _stain_circles(d: ZooDefect) -> np.ndarray:
    rng = np.random.default_rng([int(d.seed), 53])
    ang = rng.uniform(0, 2 * np.pi, 4)
    rad = d.length_mm / 2 * rng.uniform(0.25, 0.5, 4)
    r = d.length_mm / 2 * rng.uniform(0.45, 0.7, 4)
    c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
    return np.vstack([[d.center_mm[0], d.center_mm[1], 0.7 * d.length_mm / 2], c])


def _stain_sdf(x: np.ndarray, y: np.ndarray, circles: np.ndarray) -> np.ndarray:
    return np.min([np.hypot(x - cx, y - cy) - r for cx, cy, r in circles], axis=0)


class ApparelFamily(Family):
    name = "apparel"
    product = "tee-chest-panel"
    box_mm = (-47.0, -34.0, 47.0, 34.0)
    outline_mm = [(-45.0, -32.0), (45.0, -32.0), (45.0, 32.0), (-45.0, 32.0)]
    color_zones = {
        "fabric": {"polygon_mm": [(-34.0, -26.0), (-12.0, -26.0), (-12.0, 18.0), (-34.0, 18.0)],
                   "target": (55.0, -8.0, -30.0), "golden": (55.2, -7.8, -29.6), "tolerance": 1.2, "weights": (2.0, 1.0, 1.0),
                   "name": "Cotton jersey denim blue (demo)"},
        "print": {"polygon_mm": [(_PRINT_C[0] - 6.0, _PRINT_C[1] + 5.5), (_PRINT_C[0] + 6.0, _PRINT_C[1] + 5.5),
                                 (_PRINT_C[0] + 6.0, _PRINT_C[1] + 9.0), (_PRINT_C[0] - 6.0, _PRINT_C[1] + 9.0)],
                  "target": (46.0, 60.0, 36.0), "golden": (46.3, 59.6, 36.4), "tolerance": 2.0, "weights": (1.0, 1.0, 1.0),
                  "name": "Plastisol red (demo)"},
    }
    dimensions = {
        "panel_width": {"nominal": 90.0, "tol": 1.0, "measure": "width",
                        "caliper_mm": {"center": (0.0, 15.0), "angle_deg": 0.0, "length": 104.0, "width": 2.0}},
        "print_diameter": {"nominal": 24.0, "tol": 0.6, "measure": "diameter",
                           "circle_mm": {"center": _PRINT_C, "radius": 12.0, "search": 2.0}},
    }
    anomaly_zones = {
        "fabric": {"polygon_mm": [(-43.0, -30.0), (43.0, -30.0), (43.0, 24.0), (-43.0, 24.0)], "defect_type": "finish"},
        "print": {"polygon_mm": [(_PRINT_C[0] - 14.5, _PRINT_C[1] - 14.5), (_PRINT_C[0] + 14.5, _PRINT_C[1] - 14.5),
                                 (_PRINT_C[0] + 14.5, _PRINT_C[1] + 14.5), (_PRINT_C[0] - 14.5, _PRINT_C[1] + 14.5)],
                  "defect_type": "print"},
        "hem": {"polygon_mm": [(-44.0, 24.5), (44.0, 24.5), (44.0, 31.0), (-44.0, 31.0)], "defect_type": "stitching"},
    }
    defect_zone = {"stain": "fabric", "misregistration": "print", "seam_slip": "hem"}
    variation = {"weave_skew_deg": (0.0, 0.4), "weave_phase": (0.5, 0.5), "print_dx_mm": (0.0, 0.3),
                 "print_dy_mm": (0.0, 0.3), "ink_density_l": (0.0, 0.4)}
    marker_spot_mm = (0.0, -58.0)
    ruler_spot_mm = (0.0, 54.0)

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "stain":
            size = float(rng.uniform(3.0, 6.0))
            # on the fabric, clear of the print, the seams, the caliper's edges and the colour zone
            c = (float(rng.uniform(-8.0, 36.0)), float(rng.uniform(11.0, 19.0)))
            return (ZooDefect(kind, center_mm=c, length_mm=size, strength=-float(rng.uniform(8.0, 12.0)),
                              seed=int(rng.integers(1 << 30))), f"stain {size:.1f} mm on the fabric")
        if kind == "misregistration":
            r, a = float(rng.uniform(0.8, 1.5)), float(rng.uniform(0, 2 * np.pi))
            return (ZooDefect(kind, center_mm=(r * math.cos(a), r * math.sin(a)), strength=r),
                    f"print white layer {r:.1f} mm off register")
        if kind == "seam_slip":
            n = int(rng.integers(1, 4))
            i0 = int(rng.integers(2, _N_STITCH - 2 - n))
            return ZooDefect(kind, index=i0, length_mm=float(n)), f"{n} stitch(es) of the hem missing from #{i0}"
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        if d.kind == "stain":
            c = _stain_circles(d)
            r = c[:, 2] + 0.25  # soft rim
            box = (float((c[:, 0] - r).min()), float((c[:, 1] - r).min()), float((c[:, 0] + r).max()), float((c[:, 1] + r).max()))
            xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
            ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
            return box, float((_stain_sdf(xs[None, :], ys[:, None], c) < 0).sum() * _GRID * _GRID)
        if d.kind == "seam_slip":
            stitch_xs = [_stitch_x(i) for i in range(d.index, d.index + int(d.length_mm))]
            box = (min(stitch_xs) - _STITCH_LEN / 2, _STITCH_Y - _STITCH_W / 2, max(stitch_xs) + _STITCH_LEN / 2,
                   _STITCH_Y + _STITCH_W / 2)
            return box, int(d.length_mm) * _STITCH_LEN * _STITCH_W
        # misregistration: the white layer where it is and where it should be
        m, box = _gv_mask()
        b = mask_box_mm(m, box)
        assert b is not None  # the print mask is never empty
        dx, dy = unit.var("print_dx_mm"), unit.var("print_dy_mm")
        ox, oy = d.center_mm
        fb = (min(b[0], b[0] + ox) + dx, min(b[1], b[1] + oy) + dy, max(b[2], b[2] + ox) + dx, max(b[3], b[3] + oy) + dy)
        # area that changes: the layer's pixels that do not overlap their shifted copy
        p = MASK_PX_PER_MM
        sx, sy = int(round(ox * p)), int(round(oy * p))
        big = np.zeros((m.shape[0] + 2 * abs(sy) + 2, m.shape[1] + 2 * abs(sx) + 2), np.float32)
        y0, x0 = abs(sy) + 1, abs(sx) + 1
        a = big.copy()
        a[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
        big[y0 + sy:y0 + sy + m.shape[0], x0 + sx:x0 + sx + m.shape[1]] = m
        return fb, float(np.abs(a - big).sum() / p / p)

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        fab = u.lab("fabric")
        hw = u.dim("panel_width") / 2.0
        rng = np.random.default_rng([int(u.texture_seed), 47])
        rs, cs, X, Y = cv.roi((-hw, -_H / 2, hw, _H / 2))
        cov = cv.coverage_from_sdf(_sdf_round_box(X, Y, 0.0, 0.0, hw, _H / 2, 0.3))
        # plain weave: warp and weft relief, skewed a little, plus slubs (thick yarn) and fuzz
        sk = math.radians(u.var("weave_skew_deg"))
        xr = X * math.cos(sk) + Y * math.sin(sk)
        yr = -X * math.sin(sk) + Y * math.cos(sk)
        ph = 2 * np.pi * u.var("weave_phase")
        kx, ky = 2 * np.pi * xr / _WEAVE_MM + ph, 2 * np.pi * yr / _WEAVE_MM
        weave = np.sin(kx) * np.sin(ky) + 0.35 * np.cos(2 * kx) + 0.35 * np.cos(2 * ky)
        slub = _noise_field(rng, (cv.h, cv.w), 2.0 / cv.t)[rs, cs]
        fuzz = _noise_field(rng, (cv.h, cv.w), 0.2 / cv.t)[rs, cs]
        g = weave + 0.8 * slub + 0.5 * fuzz
        inside = cov > 0.5
        g = (g - g[inside].mean()) / max(float(g[inside].std()), 1e-6) * 1.3
        l_f = fab[0] + g
        # hem: the folded band is in shade at its fold (top) and lifts a little towards the edge
        yy = np.broadcast_to(Y, l_f.shape)
        in_hem = (yy >= _HEM_Y[0]) & (yy <= _HEM_Y[1])
        l_f = l_f + np.where(in_hem, -4.0 * np.exp(-np.clip(yy - _HEM_Y[0], 0.0, None) / 0.6) + 1.0, 0.0)
        # side seam: a shaded ridge
        l_f = l_f - 3.0 * np.exp(-(((X - _SIDE_X) / 0.5) ** 2))
        defects = {d.kind: d for d in u.defects}
        if "stain" in defects:
            d = defects["stain"]
            l_f = l_f + d.strength * np.clip(0.5 - _stain_sdf(X, Y, _stain_circles(d)) / 0.25, 0.0, 1.0)
        cv.paint(rs, cs, cov, _rgb_from_l(l_f, fab, fab[0] - 25, fab[0] + 12))
        # hem stitches
        thread = lab_to_linear_srgb(_LAB_THREAD)
        missing = set()
        if "seam_slip" in defects:
            d = defects["seam_slip"]
            missing = set(range(d.index, d.index + int(d.length_mm)))
        for i in range(_N_STITCH):
            if i in missing:
                continue
            x = _stitch_x(i)
            b = (x - _STITCH_LEN / 2, _STITCH_Y - _STITCH_W / 2, x + _STITCH_LEN / 2, _STITCH_Y + _STITCH_W / 2)
            rs2, cs2, X2, Y2 = cv.roi(b)
            sd = _sdf_round_box(X2, Y2, x, _STITCH_Y, _STITCH_LEN / 2, _STITCH_W / 2, _STITCH_W / 2)
            cv.paint(rs2, cs2, cv.coverage_from_sdf(sd), thread)
        # the print: red disc (ink carries a little of the weave), white "GV" on it
        ink = u.lab("print")
        dens = u.var("ink_density_l")
        dx, dy = u.var("print_dx_mm"), u.var("print_dy_mm")
        cx, cy = _PRINT_C[0] + dx, _PRINT_C[1] + dy
        r = u.dim("print_diameter") / 2.0
        rs, cs, X, Y = cv.roi((cx - r, cy - r, cx + r, cy + r))
        w_ink = np.sin(2 * np.pi * X / _WEAVE_MM) * np.sin(2 * np.pi * Y / _WEAVE_MM)
        cv.paint(rs, cs, cv.coverage_from_sdf(np.hypot(X - cx, Y - cy) - r),
                 _rgb_from_l(ink[0] + dens + 0.3 * w_ink, ink, ink[0] - 5, ink[0] + 5))
        m, box = _gv_mask()
        ox, oy = defects["misregistration"].center_mm if "misregistration" in defects else (0.0, 0.0)
        paint_mask(cv, m, box, lab_to_linear_srgb(_LAB_WHITE_INK), dx_mm=dx + ox, dy_mm=dy + oy)
