"""Zoo family "wood": an oiled oak serving board with a laser-engraved mark and a drilled hanging hole.

A natural product (held out like ``pcba``: built after the others, nobody tunes to it): every
board is cut from a different place of a different log, so every unit has its *own* grain; the
golden captures photograph one golden board and share its grain.

Design (product mm, origin at the board's centre, x right along the grain, y down): a board
``board_width`` x ``board_height`` (80 x 50 mm), corners r = 4 mm, in oiled white oak
(L* 57, a* 8, b* 26) with

* plain-sawn growth rings: the board's face cuts a log whose pith lies 22-45 mm under it, off
  to the side by up to 35 mm and tilted by up to ±0.2 (mm per mm along the board), so the rings
  run along the board and close in arches ("cathedrals"), or run nearly straight on a board cut
  parallel to the log; ring spacing 1.8-3.2 mm, each year ±25 %; the rings wander across the board
  (0.9 mm over 15 mm) and are a little uneven (0.12 mm over 3 mm). In each ring the light earlywood turns into darker latewood (-9 L* x the board's grain
  contrast 0.85-1.15, a* +1, b* -3 with it), which ends sharply at the next ring;
* fibre streaks along the rings (±1.3 L*, 2.5 mm long, 0.1 mm across) and the earlywood's open
  pores (sparse dark dashes, up to -10 L*), and a slow tone drift over the board (0.6 L*, 20 mm);
  the grain is zero-mean over the colour zone, so that zone's mean colour is the unit's colour;
* a routed round-over along the outline (1 mm seen from above, lit from the top left) and the
  darker end grain at both ends;
* a laser-engraved mark, two lines of text ("GOLDENVISION", "OAK  No 07", cap height 3.7 mm):
  charred wood (L* 27, browner where it burns into latewood) with a scorched halo (-4 L*,
  σ 0.2 mm) round it; production variation: the engraving jig's placement (±0.2 mm) and the
  burn's depth (±1.5 L*);
* a drilled hanging hole Ø ``hole_diameter`` (6 mm) at (32, 0), its rim darkened by torn fibres
  (-8 L* over 0.3 mm); the table or platen shows through it.

Production variation: the oil's tone within tolerance (:meth:`Family.draw_production`), width,
height and hole within ±0.3 x tolerance, the grain (texture seed, a new board each time), the
grain's contrast, the engraving's placement and burn depth.

Defects (realistic size and contrast for a small oiled board):

* ``crack``: a split along the grain, 7-14 mm long, 0.2-0.35 mm open at its widest (the gap in
  shadow, L* 20), either an end check running in from an end of the board and closing towards
  its tip, or a surface check closed at both ends;
* ``stain``: a dark oil or burn stain Ø 4-6 mm with a soft rim (0.8 mm), ΔL* -8 to -12 on the
  grain (the grain shows through it);
* ``faint_engraving``: the laser's burn faded over 4-8 mm of one text line (70-100 % of the char
  missing there: power drop or lens dirt);
* ``edge_chip``: wood broken out of the outline, 3-6 mm along it and 0.8-2 mm deep, the fresh
  unoiled fracture showing light (L* 74) 0.4 mm wide along it;
* ``hole_position``: the hanging hole drilled 0.7-1.2 mm out of position (the jig);
* an off-tone oil or wood (the lot's ``color`` fault), a board cut out of size or a hole drilled
  oversize / undersize (the ``dimension`` fault).

Spec (what a buyer of a wooden board would write): the oiled surface's colour (ΔE00 3.0, a
natural product) on a plain patch at the top left; the width (80 ± 0.5 mm), the height
(50 ± 0.5 mm) and the hole (Ø 6 ± 0.2 mm); anomaly zones: the surface (``finish``, the board
and 1 mm past its outline, defects from 1 mm²) and, inside it, the engraving (``print``, drawn
2 mm round the char, from 0.5 mm²).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from ..render import _Canvas, _noise_field, _sdf_round_box
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import MASK_PX_PER_MM, mask_box_mm, text_mask

__all__ = ["WoodFamily"]

_R = 4.0
_ROUND_MM = 1.0
_HOLE = (32.0, 0.0)
_HOLE_RIM_MM = 0.3
_TEXT_BOX = (-22.0, -8.0, 12.0, 4.0)
_TEXT = ["GOLDENVISION", "OAK  No 07"]
_LINE_MM = 6.0
_COLOR_BOX = (-34.0, -21.0, -8.0, -12.0)
_ENGRAVING_ZONE = (-24.0, -8.0, 9.5, 5.0)  # the char (x -21.8..7.3, y -6..2.95) and 2 mm round it
_LAB_CHAR = (27.0, 8.0, 12.0)
_LAB_GAP = (20.0, 5.0, 9.0)
_LAB_FRESH = (74.0, 6.0, 24.0)
_LATEWOOD_L = 9.0
_A_PER_L, _B_PER_L = -0.12, 0.33  # chroma of the grain: darker wood is a little redder, less yellow
_HALO_L, _HALO_SIGMA = 4.0, 0.2
_STAIN_SOFT = 0.8
_RHO_MAX = 130.0  # the largest ring radius a board can show (pith offset, depth and tilt at their limits)
_GRID = 0.02
_EDGE_NAMES = ("top", "bottom", "left", "right")
# where a defect may lie (clear of the colour zone, the engraving zone, the calipers' lines and the hole)
_STAIN_AREAS = ((-30.0, 10.0, 14.0, 12.0), (0.0, -20.0, 15.0, -15.0), (29.5, 10.0, 34.0, 12.0))
_CHIP_SPANS = {0: ((0.0, 18.0), (28.0, 33.0)), 1: ((-33.0, 18.0), (28.0, 33.0)), 2: ((-8.0, 12.0),),
               3: ((-18.0, 12.0),)}


def _rect(b: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    return [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])]


@functools.lru_cache(maxsize=1)
def _text_mask() -> np.ndarray:
    m = text_mask(_TEXT, _TEXT_BOX, line_h_mm=_LINE_MM, weight=0.13)
    m.setflags(write=False)
    return m


def _line_rows(line: int) -> tuple[int, int]:
    p = MASK_PX_PER_MM
    return int(round(line * _LINE_MM * p)), int(round((line + 1) * _LINE_MM * p))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _remap_noise(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, extent: tuple[float, float]) -> np.ndarray:
    """Unit-variance band-limited noise sampled at grid coordinates ``(u, v)`` (cells; cubic) of a
    grid of ``extent`` cells (fixed, so that the noise does not depend on the texture's resolution)."""
    grid = rng.standard_normal((int(math.ceil(extent[1])) + 4, int(math.ceil(extent[0])) + 4)).astype(np.float32)
    out = cv2.remap(grid, (u + 1.0).astype(np.float32), (v + 1.0).astype(np.float32), cv2.INTER_CUBIC,
                    borderMode=cv2.BORDER_REFLECT)
    return np.asarray(out, np.float32)


class WoodFamily(Family):
    name = "wood"
    product = "oak-board-80x50"
    box_mm = (-42.0, -27.0, 42.0, 27.0)
    outline_mm = [(-40.0, -25.0), (40.0, -25.0), (40.0, 25.0), (-40.0, 25.0)]
    color_zones = {
        "surface": {"polygon_mm": _rect(_COLOR_BOX), "target": (57.0, 8.0, 26.0), "golden": (57.4, 8.3, 26.5),
                    "tolerance": 3.0, "weights": (1.0, 1.0, 1.0), "name": "Oiled white oak (demo)"},
    }
    dimensions = {
        "board_width": {"nominal": 80.0, "tol": 0.5, "measure": "width",
                        "caliper_mm": {"center": (0.0, 17.0), "angle_deg": 0.0, "length": 94.0, "width": 2.0}},
        "board_height": {"nominal": 50.0, "tol": 0.5, "measure": "width",
                         "caliper_mm": {"center": (24.0, 0.0), "angle_deg": 90.0, "length": 64.0, "width": 2.0}},
        "hole_diameter": {"nominal": 6.0, "tol": 0.2, "measure": "diameter",
                          "circle_mm": {"center": _HOLE, "radius": 3.0, "search": 1.5}},
    }
    anomaly_zones = {
        "surface": {"polygon_mm": _rect((-41.0, -26.0, 41.0, 26.0)), "defect_type": "finish", "min_area_mm2": 1.0},
        "engraving": {"polygon_mm": _rect(_ENGRAVING_ZONE), "defect_type": "print", "min_area_mm2": 0.5},
    }
    defect_zone = {"crack": "surface", "stain": "surface", "edge_chip": "surface", "hole_position": "surface",
                   "faint_engraving": "engraving"}
    variation = {"grain_contrast": (1.0, 0.15), "engrave_dx_mm": (0.0, 0.2), "engrave_dy_mm": (0.0, 0.2),
                 "burn_l": (0.0, 1.5)}
    marker_spot_mm = (-66.0, 0.0)
    ruler_spot_mm = (0.0, 44.0)

    # -- geometry ----------------------------------------------------------------------
    @staticmethod
    def _half(u: ZooUnit) -> tuple[float, float]:
        return u.dim("board_width") / 2.0, u.dim("board_height") / 2.0

    @staticmethod
    def _hole_center(u: ZooUnit) -> tuple[float, float]:
        for d in u.defects:
            if d.kind == "hole_position":
                return _HOLE[0] + d.center_mm[0], _HOLE[1] + d.center_mm[1]
        return _HOLE

    @staticmethod
    def _crack_geometry(d: ZooDefect, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centreline y and opening width (mm) of a crack at ``x`` (0 outside its span).

        ``index`` 0: a surface check (closed at both ends); -1 / +1: an end check running in from
        the left / right end (widest there, closing towards its tip)."""
        x0, y0 = d.center_mm
        s = (x - (x0 - d.length_mm / 2)) / d.length_mm  # 0..1 along the crack, left to right
        rng = np.random.default_rng([int(d.seed), 59])
        k, ph = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)
        yc = y0 + math.tan(math.radians(d.angle_deg)) * (x - x0) + 0.12 * np.sin(k * np.pi * s + ph)
        inside = (s >= 0.0) & (s <= 1.0)
        sc = np.clip(s, 0.0, 1.0)
        if d.index == 0:
            prof = np.clip(np.sin(np.pi * sc), 0.0, None) ** 0.6
        elif d.index < 0:
            prof = (1.0 - sc) ** 0.7
        else:
            prof = sc**0.7
        return yc, np.where(inside, d.width_mm * prof, 0.0)

    @staticmethod
    def _stain_circles(d: ZooDefect) -> np.ndarray:
        rng = np.random.default_rng([int(d.seed), 53])
        ang = rng.uniform(0, 2 * np.pi, 4)
        rad = d.length_mm / 2 * rng.uniform(0.2, 0.4, 4)
        r = d.length_mm / 2 * rng.uniform(0.45, 0.65, 4)
        c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
        return np.vstack([[d.center_mm[0], d.center_mm[1], 0.75 * d.length_mm / 2], c])

    @staticmethod
    def _stain_sdf(x: np.ndarray, y: np.ndarray, circles: np.ndarray) -> np.ndarray:
        return np.min([np.hypot(x - cx, y - cy) - r for cx, cy, r in circles], axis=0)

    @staticmethod
    def _chip_frame(d: ZooDefect, half: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """Outward normal, tangent and the edge's offset from the centre of the chip's edge."""
        nv, tv = {0: ((0.0, -1.0), (1.0, 0.0)), 1: ((0.0, 1.0), (1.0, 0.0)), 2: ((-1.0, 0.0), (0.0, 1.0)),
                  3: ((1.0, 0.0), (0.0, 1.0))}[d.index]
        return np.asarray(nv), np.asarray(tv), half[1] if d.index < 2 else half[0]

    def _chip_e(self, d: ZooDefect, x: np.ndarray, y: np.ndarray, half: tuple[float, float]) -> tuple[np.ndarray, float]:
        """Normalised distance of the chip's outline (< 1 in the broken-out wood) and its scale (mm)."""
        nv, tv, off = self._chip_frame(d, half)
        t = x * tv[0] + y * tv[1] - d.center_mm[0]
        n = off - (x * nv[0] + y * nv[1])  # depth into the board from its edge
        rng = np.random.default_rng([int(d.seed), 67])
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        th = np.arctan2(n, t)
        wobble = 1.0 + 0.14 * np.sin(3 * th + p1) + 0.08 * np.sin(7 * th + p2)
        return np.hypot(t / (d.length_mm / 2), n / d.width_mm) / wobble, min(d.length_mm / 2, d.width_mm)

    @staticmethod
    def _faded(d: ZooDefect) -> np.ndarray:
        """The char a faint-engraving defect takes away (coverage over ``_TEXT_BOX``, unshifted)."""
        m = _text_mask()
        p = MASK_PX_PER_MM
        r0, r1 = _line_rows(d.index)
        xs = _TEXT_BOX[0] + (np.arange(m.shape[1]) + 0.5) / p
        ramp = 0.4
        win = np.clip((d.length_mm / 2 + ramp / 2 - np.abs(xs - d.center_mm[0])) / ramp, 0.0, 1.0)
        out = np.zeros_like(m)
        out[r0:r1] = m[r0:r1] * (d.strength * win)[None, :]
        return out

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "crack":
            ln, wd = float(rng.uniform(7.0, 14.0)), float(rng.uniform(0.2, 0.35))
            ang = float(rng.uniform(-4.0, 4.0))
            where = int(rng.integers(4))
            seed = int(rng.integers(1 << 30))
            if where == 0:  # surface check in the lower band
                c = (float(rng.uniform(-25.0, 8.0)), float(rng.uniform(8.5, 13.0)))
                return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=ang, index=0, seed=seed),
                        f"surface check {ln:.1f} mm long, {wd:.2f} mm open")
            side = -1 if where == 1 else 1
            y = float(rng.uniform(8.5, 13.0)) if where < 3 else float(rng.uniform(-20.0, -14.0))
            c = (side * (40.0 - ln / 2), y)
            return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=ang, index=side, seed=seed),
                    f"end check {ln:.1f} mm long, {wd:.2f} mm open at the {'left' if side < 0 else 'right'} end")
        if kind == "stain":
            size = float(rng.uniform(4.0, 6.0))
            dl = float(rng.uniform(-12.0, -8.0))
            x1, y1, x2, y2 = _STAIN_AREAS[int(rng.integers(len(_STAIN_AREAS)))]
            c = (float(rng.uniform(x1, x2)), float(rng.uniform(y1, y2)))
            return (ZooDefect(kind, center_mm=c, length_mm=size, strength=dl, seed=int(rng.integers(1 << 30))),
                    f"dark stain Ø {size:.1f} mm, ΔL* {dl:.0f}")
        if kind == "faint_engraving":
            line = int(rng.integers(len(_TEXT)))
            b = mask_box_mm(_text_mask()[slice(*_line_rows(line))], (_TEXT_BOX[0], 0.0, _TEXT_BOX[2], 1.0))
            assert b is not None  # every line has char
            ln = float(rng.uniform(4.0, 8.0))
            x = float(rng.uniform(b[0] + ln / 2, b[2] - ln / 2))
            fade = float(rng.uniform(0.7, 1.0))
            return (ZooDefect(kind, center_mm=(x, 0.0), length_mm=ln, strength=fade, index=line),
                    f"engraving line {line + 1}: {100 * fade:.0f} % of the burn missing over {ln:.1f} mm")
        if kind == "edge_chip":
            edge = int(rng.integers(4))
            spans = _CHIP_SPANS[edge]
            lo, hi = spans[int(rng.integers(len(spans)))]
            ln, dp = float(rng.uniform(3.0, 6.0)), float(rng.uniform(0.8, 2.0))
            return (ZooDefect(kind, center_mm=(float(rng.uniform(lo, hi)), 0.0), length_mm=ln, width_mm=dp, index=edge,
                              seed=int(rng.integers(1 << 30))),
                    f"edge chip {ln:.1f} mm long, {dp:.1f} mm deep on the {_EDGE_NAMES[edge]} edge")
        if kind == "hole_position":
            r, a = float(rng.uniform(0.7, 1.2)), float(rng.uniform(0, 2 * np.pi))
            return (ZooDefect(kind, center_mm=(r * math.cos(a), r * math.sin(a)), strength=r),
                    f"hanging hole {r:.2f} mm out of position")
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        half = self._half(unit)
        if d.kind == "crack":
            xs = np.arange(d.center_mm[0] - d.length_mm / 2 - 0.5, d.center_mm[0] + d.length_mm / 2 + 0.5, _GRID) + _GRID / 2
            yc, wd = self._crack_geometry(d, xs)
            on = wd > 0
            m = 0.15  # the coverage ramp
            box = (float(xs[on].min() - m), float((yc - wd / 2)[on].min() - m), float(xs[on].max() + m),
                   float((yc + wd / 2)[on].max() + m))
            if d.index:  # an end check reaches the board's end; none of it lies past the outline
                box = (max(box[0], -half[0]), box[1], min(box[2], half[0]), box[3])
            return box, float(wd.sum() * _GRID)
        if d.kind == "stain":
            c = self._stain_circles(d)
            ext = float((np.hypot(c[:, 0] - d.center_mm[0], c[:, 1] - d.center_mm[1]) + c[:, 2]).max()) + _STAIN_SOFT
            xs = np.arange(d.center_mm[0] - ext, d.center_mm[0] + ext, _GRID) + _GRID / 2
            ys = np.arange(d.center_mm[1] - ext, d.center_mm[1] + ext, _GRID) + _GRID / 2
            sdf = self._stain_sdf(xs[None, :], ys[:, None], c)
            rows, cols = np.nonzero(sdf < _STAIN_SOFT / 2)
            box = (float(xs[cols.min()] - _GRID), float(ys[rows.min()] - _GRID), float(xs[cols.max()] + _GRID),
                   float(ys[rows.max()] + _GRID))
            return box, float((sdf < 0).sum() * _GRID * _GRID)
        if d.kind == "faint_engraving":
            faded = self._faded(d)
            b = mask_box_mm(faded, _TEXT_BOX)
            if b is None:  # pragma: no cover - every drawn defect fades some char
                raise ValueError(f"{d}: fades no char")
            dx, dy = unit.var("engrave_dx_mm"), unit.var("engrave_dy_mm")
            m = 2.5 * _HALO_SIGMA  # the scorch round the char fades with it
            return (b[0] + dx - m, b[1] + dy - m, b[2] + dx + m, b[3] + dy + m), float(faded.sum()) / MASK_PX_PER_MM**2
        if d.kind == "edge_chip":
            nv, tv, off = self._chip_frame(d, half)
            scale = min(d.length_mm / 2, d.width_mm)
            ext = d.length_mm / 2 * 1.25 * (1.0 + 0.6 / scale) + 0.3  # the wobble, the face, the ramp
            c = off * nv + d.center_mm[0] * tv
            xs = np.arange(c[0] - ext, c[0] + ext, _GRID) + _GRID / 2
            ys = np.arange(c[1] - ext, c[1] + ext, _GRID) + _GRID / 2
            X, Y = xs[None, :], ys[:, None]
            e, scale = self._chip_e(d, X, Y, half)
            on = _sdf_round_box(X, Y, 0.0, 0.0, half[0], half[1], _R) < 0.05
            gone = (e < 1.0) & on
            touched = (e < 1.0 + 0.6 / scale) & on  # the fracture face and its coverage ramp
            rows, cols = np.nonzero(touched)
            box = (float(xs[cols.min()] - _GRID), float(ys[rows.min()] - _GRID), float(xs[cols.max()] + _GRID),
                   float(ys[rows.max()] + _GRID))
            return box, float(gone.sum() * _GRID * _GRID)
        # hole out of position: nominal and actual hole with their rims
        r = unit.dim("hole_diameter") / 2 + _HOLE_RIM_MM + 0.1
        (x0, y0), (dx, dy) = _HOLE, d.center_mm
        box = (min(x0, x0 + dx) - r, min(y0, y0 + dy) - r, max(x0, x0 + dx) + r, max(y0, y0 + dy) + r)
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        hr = unit.dim("hole_diameter") / 2
        planned = np.hypot(xs[None, :] - x0, ys[:, None] - y0) < hr
        drilled = np.hypot(xs[None, :] - x0 - dx, ys[:, None] - y0 - dy) < hr
        return box, float((planned ^ drilled).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    @staticmethod
    def _grain(u: ZooUnit, cv: _Canvas, rs: slice, cs: slice, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """ΔL* of the board's grain (rings, streaks, pores, tone drift) over the region, before normalising."""
        seed = int(u.texture_seed)
        g = np.random.default_rng([seed, 61])
        yp = g.uniform(-35.0, 35.0)  # the pith's side offset
        h0 = g.uniform(22.0, 45.0)  # depth of the pith under the face at x = 0
        tilt = g.uniform(-0.2, 0.2)  # the log's axis against the face (grain run-out up to 1 in 5)
        spacing = g.uniform(1.8, 3.2)
        shape = (cv.h, cv.w)
        # the log is not a perfect cone: the rings wander across the board (a gentle displacement)
        # and each ring is a little uneven
        warp = 0.9 * _noise_field(np.random.default_rng([seed, 62]), shape, 15.0 / cv.t)[rs, cs]
        uneven = 0.12 * _noise_field(np.random.default_rng([seed, 63]), shape, 3.0 / cv.t)[rs, cs]
        depth = h0 + tilt * X
        rho = np.sqrt((Y + warp - yp) ** 2 + depth**2) + uneven
        years = spacing * np.exp(g.normal(0.0, 0.25, 200))
        radii = np.concatenate([[0.0], np.cumsum(years)])
        phase = np.interp(rho, radii, np.arange(radii.size, dtype=np.float64))
        f = phase - np.floor(phase)
        ring_w = np.interp(rho, radii[:-1] + years / 2, years)
        late = _smoothstep((f - 0.45) / 0.35) * np.clip((1.0 - f) * ring_w / 0.12, 0.0, 1.0)
        # fibre streaks and pores follow the rings: noise sampled along (x, rho)
        xu = (X - WoodFamily.box_mm[0]) + np.zeros_like(rho)
        span = (WoodFamily.box_mm[2] - WoodFamily.box_mm[0], _RHO_MAX)
        streak = _remap_noise(np.random.default_rng([seed, 64]), xu / 2.5, rho / 0.1, (span[0] / 2.5, span[1] / 0.1))
        pore_n = _remap_noise(np.random.default_rng([seed, 65]), xu / 0.8, rho / 0.06, (span[0] / 0.8, span[1] / 0.06))
        pores = np.clip(pore_n - 1.6, 0.0, None) * (f < 0.35)
        drift = 0.6 * _noise_field(np.random.default_rng([seed, 66]), shape, 20.0 / cv.t)[rs, cs]
        c = u.var("grain_contrast")
        return (c * (-_LATEWOOD_L * late + 1.3 * streak) - 10.0 * np.clip(pores, 0.0, 1.0) + drift).astype(np.float32)

    def _engraving_cov(self, u: ZooUnit, cv: _Canvas, rs: slice, cs: slice) -> np.ndarray:
        """Coverage of the char over the region (the jig's offset, a faint-engraving defect applied)."""
        mask = _text_mask()
        for d in u.defects:
            if d.kind == "faint_engraving":
                mask = mask - self._faded(d)
        p = MASK_PX_PER_MM
        x1, y1 = _TEXT_BOX[0] + u.var("engrave_dx_mm"), _TEXT_BOX[1] + u.var("engrave_dy_mm")
        src = mask
        if cv.t * p > 1.0:
            k = max(1, int(round(cv.t * p)))
            src = cv2.blur(mask, (k, k), borderType=cv2.BORDER_CONSTANT)
        to_mask = np.array([[p, 0, -x1 * p - 0.5], [0, p, -y1 * p - 0.5], [0, 0, 1.0]])
        tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
        cov = cv2.warpAffine(src, (to_mask @ tex)[:2], (cs.stop - cs.start, rs.stop - rs.start),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return np.clip(cov, 0.0, 1.0).astype(np.float32)

    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        oak = u.lab("surface")
        hw, hh = self._half(u)
        defects = {d.kind: d for d in u.defects}
        rs, cs, X, Y = cv.roi((-hw - 0.5, -hh - 0.5, hw + 0.5, hh + 0.5))
        dl = self._grain(u, cv, rs, cs, X, Y)
        zone = ((X >= _COLOR_BOX[0]) & (X <= _COLOR_BOX[2])) & ((Y >= _COLOR_BOX[1]) & (Y <= _COLOR_BOX[3]))
        dl = dl - float(dl[zone].mean())
        grain = dl.copy()
        # the round-over along the outline (lit from the top left) and the end grain at both ends
        sdf = _sdf_round_box(X, Y, 0.0, 0.0, hw, hh, _R)
        gy, gx = np.gradient(sdf.astype(np.float64), cv.t)
        bevel = np.clip(1.0 + sdf / _ROUND_MM, 0.0, 1.0) * (sdf < 0)
        dl = dl + bevel * (6.0 * (-(gx + gy) / math.sqrt(2.0)) - 5.0 * np.abs(gx))
        # the laser's scorch round its char
        ecov = self._engraving_cov(u, cv, rs, cs)
        k = _HALO_SIGMA / cv.t
        halo = cv2.GaussianBlur(ecov, (0, 0), k) if k > 0.3 else ecov
        dl = dl - _HALO_L * halo
        if "stain" in defects:
            d = defects["stain"]
            prof = np.clip(0.5 - self._stain_sdf(X, Y, self._stain_circles(d)) / _STAIN_SOFT, 0.0, 1.0)
            dl = dl + d.strength * _smoothstep(prof)
        lab = np.stack([oak[0] + dl, oak[1] + _A_PER_L * dl, oak[2] + _B_PER_L * dl], axis=-1)
        rgb = lab_to_linear_srgb(lab).astype(np.float32)
        # the char: darker where it burns into latewood, the burn's depth varies from unit to unit
        lc = _LAB_CHAR[0] + u.var("burn_l") + 0.3 * grain
        char = lab_to_linear_srgb(np.stack([lc, np.full_like(lc, _LAB_CHAR[1]), np.full_like(lc, _LAB_CHAR[2])], axis=-1))
        rgb = rgb * (1.0 - ecov[..., None]) + char.astype(np.float32) * ecov[..., None]
        if "crack" in defects:
            d = defects["crack"]
            yc, wd = self._crack_geometry(d, X)
            dist = np.abs(Y - yc) - wd / 2
            ccov = np.where(wd > 0, np.clip(0.5 - dist / min(cv.t, 0.1), 0.0, 1.0) * np.clip(wd / cv.t, 0.0, 1.0), 0.0)
            ccov = np.clip(ccov, 0.0, 1.0)[..., None].astype(np.float32)
            rgb = rgb * (1.0 - ccov) + lab_to_linear_srgb(_LAB_GAP).astype(np.float32) * ccov
        cov = cv.coverage_from_sdf(sdf)
        if "edge_chip" in defects:
            d = defects["edge_chip"]
            e, scale = self._chip_e(d, X, Y, (hw, hh))
            gone = np.clip(0.5 - (e - 1.0) * scale / cv.t, 0.0, 1.0)
            face = np.clip(0.5 - (e - 1.0 - 0.4 / scale) * scale / cv.t, 0.0, 1.0) * (1.0 - gone)
            rgb = rgb * (1.0 - face[..., None]) + lab_to_linear_srgb(_LAB_FRESH).astype(np.float32) * face[..., None]
            cov = cov * (1.0 - gone)
        # the hole's rim: fibres torn by the drill
        hx, hy = self._hole_center(u)
        hr = u.dim("hole_diameter") / 2.0
        rim = np.clip(0.5 - (np.hypot(X - hx, Y - hy) - hr - _HOLE_RIM_MM) / cv.t, 0.0, 1.0)[..., None]
        rgb = rgb * (1.0 - 0.3 * rim).astype(np.float32)  # about -8 L*
        cv.paint(rs, cs, cov.astype(np.float32), rgb.astype(np.float32))
        # the drilled hole: remove the wood (premultiplied colour and alpha together)
        assert cv.alpha is not None  # zoo textures are painted on an alpha canvas
        rs2, cs2, X2, Y2 = cv.roi((hx - hr - 0.2, hy - hr - 0.2, hx + hr + 0.2, hy + hr + 0.2))
        keep = 1.0 - cv.coverage_from_sdf(np.hypot(X2 - hx, Y2 - hy) - hr)
        cv.rgb[rs2, cs2] *= keep[..., None]
        cv.alpha[rs2, cs2] *= keep
