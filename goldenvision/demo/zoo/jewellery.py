"""Zoo family "jewellery": a gold-plated pendant with set stones, a bail and a short chain.

Design (product mm, origin at the pendant's centre, x right, y down): a plate ``pendant_width``
(28 mm) x 36 mm, corners r = 6 mm, with a satin-brushed gold face (brushing streaks 0.6 L*,
zero-mean), a polished rim 1 mm wide that mirrors the dark hood (dark at the edge, lighter
inwards), a centre sapphire Ø ``stone_diameter`` (6 mm) in a polished bezel, a row of three
clear stones Ø 2.6 mm in bezels, and a bail with three chain links above it. Stones are
faceted: eight crown sectors in alternating light, a flat table and a specular sparkle.

Production variation: the plating's tone within tolerance (the colour), the brushing (texture
seed), the stones' rotation (facet phase) and sparkle strength.

Defects:

* ``scratch``: a fine scratch on the satin face, 4-8 mm long, 0.15-0.3 mm wide, ΔL* -20;
* ``missing_stone``: one of the small stones is gone (the empty seat shows dark);
* ``thin_plating``: worn / thin plating over 3-5 mm (the coppery base metal shows: ΔL* -9,
  Δa* +7, Δb* -12, soft edges);
* a plating tone off the golden is the lot's ``color`` fault.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import seg_box, seg_ends, soft_segment

__all__ = ["JewelleryFamily"]

_HH, _R = 18.0, 6.0
_RIM = 1.0
_STONE_C = (0.0, -5.0)
_SMALL = ((-6.0, 8.0), (0.0, 8.0), (6.0, 8.0))
_SMALL_R = 1.3
_BEZEL = 0.7  # bezel ring width
_BAIL = (0.0, -21.0, 3.2, 1.8)  # centre x, y, outer r, inner r
_LINKS = ((0.0, -26.5, "oval"), (0.0, -31.0, "bar"), (0.0, -35.5, "oval"), (0.0, -40.0, "bar"))
_LAB_SAPPHIRE = (30.0, 14.0, -50.0)
_LAB_CLEAR = (82.0, 0.0, -1.0)
_BASE_METAL = (-9.0, 7.0, -12.0)  # Δ(L*, a*, b*) of the coppery base metal under the gold
_GRID = 0.05


def _blob_circles(d: ZooDefect) -> np.ndarray:
    rng = np.random.default_rng([int(d.seed), 61])
    ang = rng.uniform(0, 2 * np.pi, 4)
    rad = d.length_mm / 2 * rng.uniform(0.2, 0.45, 4)
    r = d.length_mm / 2 * rng.uniform(0.4, 0.65, 4)
    c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
    return np.vstack([[d.center_mm[0], d.center_mm[1], 0.7 * d.length_mm / 2], c])


def _blob_sdf(x: np.ndarray, y: np.ndarray, circles: np.ndarray) -> np.ndarray:
    return np.min([np.hypot(x - cx, y - cy) - r for cx, cy, r in circles], axis=0)


class JewelleryFamily(Family):
    name = "jewellery"
    product = "pendant-sapphire-gold"
    box_mm = (-16.0, -44.0, 16.0, 20.0)
    outline_mm = [(-14.0, -18.0), (14.0, -18.0), (14.0, 18.0), (-14.0, 18.0)]
    color_zones = {
        "plating": {"polygon_mm": [(-9.0, 0.5), (9.0, 0.5), (9.0, 4.5), (-9.0, 4.5)],
                    "target": (74.0, 5.0, 36.0), "golden": (74.3, 5.2, 35.6), "tolerance": 1.5, "weights": (1.0, 1.0, 1.0),
                    "name": "Gold plating 2N (demo)"},
    }
    dimensions = {
        "pendant_width": {"nominal": 28.0, "tol": 0.2, "measure": "width",
                          "caliper_mm": {"center": (0.0, 2.5), "angle_deg": 0.0, "length": 40.0, "width": 2.0}},
        "stone_diameter": {"nominal": 6.0, "tol": 0.15, "measure": "diameter",
                           "circle_mm": {"center": _STONE_C, "radius": 3.0, "search": 1.0}, "polarity": "dark_to_light"},
    }
    anomaly_zones = {
        "face": {"polygon_mm": [(-14.5, -18.5), (14.5, -18.5), (14.5, 18.5), (-14.5, 18.5)], "defect_type": "plating"},
        "stones": {"polygon_mm": [(-8.5, 5.5), (8.5, 5.5), (8.5, 10.5), (-8.5, 10.5)], "defect_type": "other"},
    }
    defect_zone = {"scratch": "face", "thin_plating": "face", "missing_stone": "stones"}
    variation = {"facet_phase": (0.5, 0.5), "sparkle": (0.8, 0.2)}
    marker_spot_mm = (-42.0, -8.0)
    ruler_spot_mm = (0.0, 36.0)

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "scratch":
            ln, wd = float(rng.uniform(4.0, 8.0)), float(rng.uniform(0.15, 0.3))
            c = (float(rng.uniform(-6.0, 6.0)), float(rng.uniform(11.5, 14.5)))
            return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=float(rng.uniform(-25.0, 25.0)),
                              strength=-20.0), f"scratch {ln:.1f} x {wd:.2f} mm on the face")
        if kind == "missing_stone":
            i = int(rng.integers(3))
            return ZooDefect(kind, index=i), f"stone {i + 1} of 3 missing"
        if kind == "thin_plating":
            size = float(rng.uniform(3.0, 5.0))
            c = (float(rng.uniform(-8.0, 8.0)), float(rng.uniform(12.5, 13.5)))
            return ZooDefect(kind, center_mm=c, length_mm=size, seed=int(rng.integers(1 << 30))), f"thin plating {size:.1f} mm"
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        if d.kind == "scratch":
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            r = d.width_mm / 2 + 0.1
            box = seg_box(p0, p1, r)
            return box, d.length_mm * d.width_mm + math.pi * (d.width_mm / 2) ** 2
        if d.kind == "missing_stone":
            x, y = _SMALL[d.index]
            return (x - _SMALL_R, y - _SMALL_R, x + _SMALL_R, y + _SMALL_R), math.pi * _SMALL_R**2
        c = _blob_circles(d)
        rad = c[:, 2] + 0.3
        box = (float((c[:, 0] - rad).min()), float((c[:, 1] - rad).min()), float((c[:, 0] + rad).max()),
               float((c[:, 1] + rad).max()))
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        return box, float((_blob_sdf(xs[None, :], ys[:, None], c) < 0).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    @staticmethod
    def _metal_rgb(l_f: np.ndarray, gold: tuple[float, float, float], da: np.ndarray | None = None,
                   db: np.ndarray | None = None) -> np.ndarray:
        if da is None:
            return _rgb_from_l(np.clip(l_f, 20, 98), gold, 20, 98)
        assert db is not None  # da and db come together
        lab = np.stack([np.clip(l_f, 20, 98), gold[1] + da, gold[2] + db], axis=-1)
        return lab_to_linear_srgb(lab).astype(np.float32)

    def _stone(self, cv: _Canvas, c: tuple[float, float], r: float, lab: tuple[float, float, float], phase: float,
               sparkle: float) -> None:
        x0, y0 = c
        rs, cs, X, Y = cv.roi((x0 - r, y0 - r, x0 + r, y0 + r))
        rho = np.hypot(X - x0, Y - y0)
        th = np.arctan2(Y - y0, X - x0) + 2 * np.pi * phase / 8
        sector = np.floor((th % (2 * np.pi)) / (2 * np.pi / 8)).astype(int)
        l_s = lab[0] + np.where(sector % 2 == 0, 7.0, -7.0) * (rho > 0.45 * r)  # crown facets around the table
        l_s = l_s + 10.0 * sparkle * np.exp(-(np.hypot(X - x0 + 0.3 * r, Y - y0 + 0.3 * r) / (0.12 * r)) ** 2)
        cv.paint(rs, cs, cv.coverage_from_sdf(rho - r), _rgb_from_l(np.clip(l_s, 5, 99), lab, 5, 99))

    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        gold = u.lab("plating")
        hw = u.dim("pendant_width") / 2.0
        rng = np.random.default_rng([int(u.texture_seed), 67])
        defects = {d.kind: d for d in u.defects}
        # chain links and bail (polished: dark edges, bright crowns)
        for x, y, kind in _LINKS:
            rs, cs, X, Y = cv.roi((x - 3.0, y - 3.0, x + 3.0, y + 3.0))
            if kind == "oval":
                e = np.hypot((X - x) / 1.5, (Y - y) / 2.4)
                sd = np.abs(e - 1.0) * 1.5 - 0.45
                l_c = gold[0] + 8.0 - 20.0 * np.clip(np.abs(e - 1.0) * 1.5 / 0.45, 0, 1) ** 2
            else:
                sd = _sdf_round_box(X, Y, x, y, 0.45, 2.6, 0.45)
                l_c = gold[0] + 6.0 - 18.0 * ((X - x) / 0.45) ** 2
            cv.paint(rs, cs, cv.coverage_from_sdf(sd), self._metal_rgb(l_c, gold))
        bx, by, bo, bi = _BAIL
        rs, cs, X, Y = cv.roi((bx - bo, by - bo, bx + bo, by + bo))
        rho = np.hypot(X - bx, Y - by)
        mid, half = (bo + bi) / 2, (bo - bi) / 2
        cv.paint(rs, cs, cv.coverage_from_sdf(np.abs(rho - mid) - half),
                 self._metal_rgb(gold[0] + 8.0 - 22.0 * ((rho - mid) / half) ** 2, gold))
        # the plate: satin face with brushing streaks, polished rim mirroring the dark hood
        rs, cs, X, Y = cv.roi((-hw, -_HH, hw, _HH))
        sdf = _sdf_round_box(X, Y, 0.0, 0.0, hw, _HH, _R)
        streak = _noise_field(rng, (cv.h, cv.w), 0.08 / cv.t)[rs, cs]
        streak = cv2.blur(streak, (max(3, int(round(2.0 / cv.t))), 1), borderType=cv2.BORDER_REFLECT)  # brushed along x
        face = sdf < -_RIM
        streak = (streak - streak[face].mean()) / max(float(streak[face].std()), 1e-6) * 0.6
        l_f = gold[0] + streak + 1.5 * (X / hw)
        t = np.clip(-sdf / _RIM, 0.0, 1.0)  # 0 at the edge, 1 at the face
        rim = sdf > -_RIM
        l_f = np.where(rim, 34.0 + 45.0 * t**2 + 6.0 * (-(X + Y) / (hw + _HH)), l_f)
        da = np.zeros_like(l_f)
        db = np.zeros_like(l_f)
        if "thin_plating" in defects:
            d = defects["thin_plating"]
            w = np.clip(0.5 - _blob_sdf(X, Y, _blob_circles(d)) / 0.6, 0.0, 1.0) * face
            l_f = l_f + _BASE_METAL[0] * w
            da, db = _BASE_METAL[1] * w, _BASE_METAL[2] * w
        if "scratch" in defects:
            d = defects["scratch"]
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            l_f = l_f + d.strength * soft_segment(X, Y, p0, p1, d.width_mm / 2, 0.15) * face
        cv.paint(rs, cs, cv.coverage_from_sdf(sdf), self._metal_rgb(l_f, gold, da, db))
        # bezels (polished rings) and stones
        sx, sy = _STONE_C
        rstone = u.dim("stone_diameter") / 2.0
        for (x, y), r in [((sx, sy), rstone), *((c, _SMALL_R) for c in _SMALL)]:
            ro = r + _BEZEL
            rs, cs, X, Y = cv.roi((x - ro, y - ro, x + ro, y + ro))
            rho = np.hypot(X - x, Y - y)
            # a flat polished band with a rounded outer shoulder
            l_b = gold[0] + 12.0 - 25.0 * (np.clip(((rho - r) / _BEZEL - 0.6) / 0.4, 0.0, 1.0)) ** 2
            cv.paint(rs, cs, cv.coverage_from_sdf(rho - ro), self._metal_rgb(l_b, gold))
        phase, spark = u.var("facet_phase"), u.var("sparkle")
        self._stone(cv, (sx, sy), rstone, _LAB_SAPPHIRE, phase, spark)
        gone = defects["missing_stone"].index if "missing_stone" in defects else -1
        for i, c in enumerate(_SMALL):
            if i == gone:  # the empty seat: a dark cavity with the prongs' bright tips
                rs, cs, X, Y = cv.roi((c[0] - _SMALL_R, c[1] - _SMALL_R, c[0] + _SMALL_R, c[1] + _SMALL_R))
                rho = np.hypot(X - c[0], Y - c[1])
                l_e = 14.0 + 10.0 * (rho / _SMALL_R) ** 2
                cv.paint(rs, cs, cv.coverage_from_sdf(rho - _SMALL_R), _rgb_from_l(l_e, (20.0, 2.0, 6.0), 5, 40))
            else:
                self._stone(cv, c, _SMALL_R, _LAB_CLEAR, phase + 0.37 * i, spark)

