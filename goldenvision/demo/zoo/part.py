"""Zoo family "part": an injection-moulded plastic plate with through holes, a bore and a boss.

Design (product mm, origin at the plate's centre, x right, y down): a plate ``part_width`` x
``part_height`` (72 x 44 mm), corners r = 4 mm, in a matte dark blue-grey ABS with a fine
mould texture (0.5 L*), a lit bevel along its edges (top-left light, bottom-right shade), a
production-varying sheen (``gloss``), four through holes Ø ``hole_diameter`` (5 mm) at
(±28, ±14) with a chamfer, a through bore Ø ``bore_diameter`` (10 mm) in a raised boss (Ø 16),
two ejector-pin marks and moulded lettering. Holes show what lies under the part.

Defects (realistic size and contrast for a moulded part):

* ``burr``: flash along an outer edge, 3-7 mm long, standing 0.35-0.8 mm proud, thin and so
  lighter (+6 L*);
* ``short_shot``: incomplete fill at a corner, 3-6 mm across (the material is missing);
* ``hole_position``: one of the holes (not the measured one) 0.6-1.0 mm out of position;
* a colour shift of the body is the lot's ``color`` fault; a size fault its ``dimension`` fault.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from .base import Family, ZooDefect, ZooUnit
from .paint import paint_mask, text_mask

__all__ = ["PartFamily"]

_R = 4.0
_HOLES = ((28.0, 14.0), (-28.0, 14.0), (-28.0, -14.0), (28.0, -14.0))
_BOSS_R = 8.0
_EJECTORS = ((18.0, 17.0), (18.0, -17.0))
_TEXT_BOX = (-24.0, -19.0, -4.0, -14.5)
_CHAMFER_MM = 0.35
_BEVEL_MM = 0.6
_ZONE_CX = -16.5
_GRID = 0.05
# edges of the nominal plate (for burrs): name -> (outward normal, tangent)
_EDGES = {"top": ((0.0, -1.0), (1.0, 0.0)), "bottom": ((0.0, 1.0), (1.0, 0.0)),
          "left": ((-1.0, 0.0), (0.0, 1.0)), "right": ((1.0, 0.0), (0.0, 1.0))}
_EDGE_NAMES = ("top", "bottom", "left", "right")
_CORNERS = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))


@functools.lru_cache(maxsize=1)
def _text_mask() -> np.ndarray:
    """Coverage of the moulded lettering over ``_TEXT_BOX``."""
    m = text_mask(["ABS  GV-07"], _TEXT_BOX, line_h_mm=4.5, weight=0.14)
    m.setflags(write=False)
    return m


class PartFamily(Family):
    name = "part"
    product = "moulded-plate-72x44"
    box_mm = (-39.0, -25.5, 39.0, 25.5)
    outline_mm = [(-36.0, -22.0), (36.0, -22.0), (36.0, 22.0), (-36.0, 22.0)]
    color_zones = {
        "body": {"polygon_mm": [(-24.0, -9.0), (-9.0, -9.0), (-9.0, 9.0), (-24.0, 9.0)],
                 "target": (38.0, -2.0, -12.0), "golden": (38.3, -1.8, -12.2), "tolerance": 1.5, "weights": (1.0, 1.0, 1.0),
                 "name": "ABS slate blue (demo)"},
    }
    dimensions = {
        "part_width": {"nominal": 72.0, "tol": 0.3, "measure": "width",
                       "caliper_mm": {"center": (0.0, 9.8), "angle_deg": 0.0, "length": 86.0, "width": 2.0}},
        "part_height": {"nominal": 44.0, "tol": 0.3, "measure": "width",
                        "caliper_mm": {"center": (14.0, 0.0), "angle_deg": 90.0, "length": 58.0, "width": 2.0}},
        "hole_diameter": {"nominal": 5.0, "tol": 0.1, "measure": "diameter",
                          "circle_mm": {"center": _HOLES[0], "radius": 2.5, "search": 1.0}},
        "bore_diameter": {"nominal": 10.0, "tol": 0.15, "measure": "diameter",
                          "circle_mm": {"center": (0.0, 0.0), "radius": 5.0, "search": 1.5}},
    }
    anomaly_zones = {
        "body": {"polygon_mm": [(-38.5, -24.5), (38.5, -24.5), (38.5, 24.5), (-38.5, 24.5)], "defect_type": "finish"},
    }
    defect_zone = {"burr": "body", "short_shot": "body", "hole_position": "body"}
    variation = {"gloss": (0.8, 0.2)}
    marker_spot_mm = (-62.0, 0.0)
    ruler_spot_mm = (0.0, 42.0)

    # -- geometry --------------------------------------------------------------------------
    @staticmethod
    def _half(u: ZooUnit) -> tuple[float, float]:
        return u.dim("part_width") / 2.0, u.dim("part_height") / 2.0

    @staticmethod
    def _hole_centers(u: ZooUnit) -> list[tuple[float, float]]:
        out = list(_HOLES)
        for d in u.defects:
            if d.kind == "hole_position":
                out[d.index] = (_HOLES[d.index][0] + d.center_mm[0], _HOLES[d.index][1] + d.center_mm[1])
        return out

    @staticmethod
    def _burr_local(d: ZooDefect, s: np.ndarray) -> np.ndarray:
        """Height (mm, outward) of a burr along its edge at tangential coordinate ``s``."""
        u = (s - d.center_mm[0]) / (d.length_mm / 2.0)
        rng = np.random.default_rng([int(d.seed), 41])
        k, ph = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)
        return d.strength * np.sqrt(np.clip(1.0 - u**2, 0.0, None)) * (0.75 + 0.25 * np.sin(k * np.pi * u + ph))

    def _burr_frame(self, d: ZooDefect, half: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
        nv, tv = (np.asarray(v) for v in _EDGES[_EDGE_NAMES[d.index]])
        offset = half[1] if d.index < 2 else half[0]
        return nv, tv, offset

    @staticmethod
    def _short_center(d: ZooDefect, half: tuple[float, float]) -> np.ndarray:
        """Centre of a short shot: the middle of the rounded corner's arc (on the outline)."""
        sx, sy = _CORNERS[d.index]
        return np.array([sx * (half[0] - _R + _R / math.sqrt(2.0)), sy * (half[1] - _R + _R / math.sqrt(2.0))])

    @staticmethod
    def _short_radius(d: ZooDefect, x: np.ndarray, y: np.ndarray, c: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([int(d.seed), 43])
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        th = np.arctan2(y - c[1], x - c[0])
        return d.length_mm / 2.0 * (1.0 + 0.15 * np.sin(3 * th + p1) + 0.1 * np.sin(5 * th + p2))

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "burr":
            edge = int(rng.integers(4))
            along = 30.0 if edge < 2 else 14.0  # keep clear of the rounded corners
            ln, h = float(rng.uniform(3.0, 7.0)), float(rng.uniform(0.35, 0.8))
            s0 = float(rng.uniform(-along + ln / 2, along - ln / 2))
            return (ZooDefect(kind, center_mm=(s0, 0.0), length_mm=ln, strength=h, index=edge, seed=int(rng.integers(1 << 30))),
                    f"flash {ln:.1f} mm long, {h:.2f} mm proud on the {_EDGE_NAMES[edge]} edge")
        if kind == "short_shot":
            corner = int(rng.integers(4))
            size = float(rng.uniform(3.0, 6.0))
            return (ZooDefect(kind, length_mm=size, index=corner, seed=int(rng.integers(1 << 30))),
                    f"short shot {size:.1f} mm at a corner")
        if kind == "hole_position":
            hole = int(rng.integers(1, 4))
            r, a = float(rng.uniform(0.6, 1.0)), float(rng.uniform(0, 2 * np.pi))
            return (ZooDefect(kind, center_mm=(r * math.cos(a), r * math.sin(a)), index=hole, strength=r),
                    f"hole {hole} {r:.2f} mm out of position")
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        half = self._half(unit)
        if d.kind == "burr":
            nv, tv, off = self._burr_frame(d, half)
            s = np.linspace(d.center_mm[0] - d.length_mm / 2, d.center_mm[0] + d.length_mm / 2, 2001)
            hgt = self._burr_local(d, s)
            pts = np.concatenate([s[:, None] * tv + off * nv, s[:, None] * tv + (off + hgt)[:, None] * nv])
            area = float(np.trapezoid(hgt, s)) if hasattr(np, "trapezoid") else float(np.trapz(hgt, s))  # type: ignore[attr-defined]  # noqa: NPY201  numpy < 2 only; gone from numpy 2 stubs
            return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())), area
        if d.kind == "short_shot":
            c = self._short_center(d, half)
            r = d.length_mm / 2 * 1.3
            xs = np.arange(c[0] - r, c[0] + r, _GRID) + _GRID / 2
            ys = np.arange(c[1] - r, c[1] + r, _GRID) + _GRID / 2
            X, Y = xs[None, :], ys[:, None]
            gone = (_sdf_round_box(X, Y, 0.0, 0.0, half[0], half[1], _R) < 0) & (np.hypot(X - c[0], Y - c[1]) < self._short_radius(d, X, Y, c))
            rows, cols = np.nonzero(gone)
            box = (float(xs[cols.min()] - _GRID / 2), float(ys[rows.min()] - _GRID / 2), float(xs[cols.max()] + _GRID / 2),
                   float(ys[rows.max()] + _GRID / 2))
            return box, float(gone.sum() * _GRID * _GRID)
        # hole out of position: nominal and actual hole with their chamfers
        r = 2.5 + _CHAMFER_MM
        (x0, y0), (dx, dy) = _HOLES[d.index], d.center_mm
        box = (min(x0, x0 + dx) - r, min(y0, y0 + dy) - r, max(x0, x0 + dx) + r, max(y0, y0 + dy) + r)
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        a = np.hypot(xs[None, :] - x0, ys[:, None] - y0) < 2.5
        b = np.hypot(xs[None, :] - x0 - dx, ys[:, None] - y0 - dy) < 2.5
        return box, float((a ^ b).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        body = u.lab("body")
        hw, hh = self._half(u)
        rng = np.random.default_rng([int(u.texture_seed), 37])
        rs, cs, X, Y = cv.roi((-hw - 1.5, -hh - 1.5, hw + 1.5, hh + 1.5))
        sdf = _sdf_round_box(X, Y, 0.0, 0.0, hw, hh, _R)
        tex = _noise_field(rng, (cv.h, cv.w), 0.15 / cv.t)[rs, cs] + 0.6 * _noise_field(rng, (cv.h, cv.w), 0.5 / cv.t)[rs, cs]
        inside = sdf < -_BEVEL_MM
        tex = (tex - tex[inside].mean()) / max(float(tex[inside].std()), 1e-6) * 0.5
        l_f = body[0] + tex + 0.9 * u.var("gloss") * (X - _ZONE_CX) / 36.0
        # lit bevel: the sdf's gradient is the outward normal; light from the top left
        gy, gx = np.gradient(sdf.astype(np.float64), cv.t)
        bevel = np.clip(1.0 + sdf / _BEVEL_MM, 0.0, 1.0) * (sdf < 0)
        l_f = l_f + bevel * (8.0 * (-(gx + gy) / math.sqrt(2.0)))
        # raised boss ring (lighter) and ejector-pin marks (faint)
        rho = np.hypot(X, Y)
        l_f = l_f + 4.0 * np.clip(0.5 - (rho - _BOSS_R) / cv.t, 0.0, 1.0)
        for ex, ey in _EJECTORS:
            l_f = l_f - 1.5 * np.clip(0.5 - (np.hypot(X - ex, Y - ey) - 1.5) / cv.t, 0.0, 1.0)
        # chamfers around the holes and the bore (darker rings)
        holes = self._hole_centers(u)
        hr = u.dim("hole_diameter") / 2.0
        br = u.dim("bore_diameter") / 2.0
        for (hx, hy), r in [*((c, hr) for c in holes), ((0.0, 0.0), br)]:
            l_f = l_f - 8.0 * np.clip(0.5 - (np.hypot(X - hx, Y - hy) - r - _CHAMFER_MM) / cv.t, 0.0, 1.0)
        cov = cv.coverage_from_sdf(sdf)
        defects = {d.kind: d for d in u.defects}
        burr_cov = None
        if "burr" in defects:
            d = defects["burr"]
            nv, tv, off = self._burr_frame(d, (hw, hh))
            s = X * tv[0] + Y * tv[1]
            n = X * nv[0] + Y * nv[1] - off
            inside_span = np.abs(s - d.center_mm[0]) <= d.length_mm / 2
            burr_sdf = np.where(inside_span, np.maximum(n - self._burr_local(d, s), -n - 0.5), 1.0)
            burr_cov = cv.coverage_from_sdf(burr_sdf)
            l_f = np.where(burr_cov > cov, body[0] + 6.0 + tex, l_f)
            cov = np.maximum(cov, burr_cov)
        if "short_shot" in defects:
            d = defects["short_shot"]
            c = self._short_center(d, (hw, hh))
            gone = np.clip(0.5 - (np.hypot(X - c[0], Y - c[1]) - self._short_radius(d, X, Y, c)) / cv.t, 0.0, 1.0)
            cov = cov * (1.0 - gone)
            # the fill front is rounded and a little darker (thinner, glossier material)
            l_f = l_f - 5.0 * np.clip(1.0 - (np.hypot(X - c[0], Y - c[1]) - self._short_radius(d, X, Y, c)) / 0.5, 0.0, 1.0)
        cv.paint(rs, cs, cov.astype(np.float32), _rgb_from_l(np.clip(l_f, body[0] - 20, body[0] + 20), body,
                                                             body[0] - 20, body[0] + 20))
        # moulded lettering, a little lighter
        paint_mask(cv, _text_mask(), _TEXT_BOX, _rgb_from_l(np.array([body[0] + 3.0]), body, body[0] - 20, body[0] + 20)[0],
                   opacity=0.8)
        # through holes: remove the material (premultiplied: colour and alpha together)
        assert cv.alpha is not None  # part textures are painted on an alpha canvas
        for (hx, hy), r in [*((c, hr) for c in holes), ((0.0, 0.0), br)]:
            rs2, cs2, X2, Y2 = cv.roi((hx - r - 0.2, hy - r - 0.2, hx + r + 0.2, hy + r + 0.2))
            keep = 1.0 - cv.coverage_from_sdf(np.hypot(X2 - hx, Y2 - hy) - r)
            cv.rgb[rs2, cs2] *= keep[..., None]
            cv.alpha[rs2, cs2] *= keep

