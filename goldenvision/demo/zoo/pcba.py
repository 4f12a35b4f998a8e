"""Zoo family "pcba": a small assembled circuit board (held out: no tuning looks at it).

Design (product mm, origin at the board's centre, x right, y down): an FR4 board
``board_width`` x ``board_height`` (70 x 45 mm), corners r = 1.5 mm, under a green solder
mask through which the glass weave shows faintly (0.35 L*) and the copper traces show lighter
(+5 L*); the routed edge shows the laminate. Four plated mounting holes Ø ``hole_diameter``
(3.2 mm) with gold (ENIG) rings at (±31, ±18.5). On the left, the assembly: an SOIC-14 (black
body 8.7 x 3.9 mm, 14 tinned gull-wing leads at 1.27 mm pitch), three 0805 resistors and two
1206 capacitors on gold pads. On the right: five traces to five gold test points and the white
silkscreen (component outlines and the board's title).

Production variation: pick-and-place scatter of every component (±0.05 mm, ±0.8 degree, from
the unit's texture seed), the silkscreen's registration (±0.1 mm) and the tin's gloss (±3.75 L*).

Defects (realistic size and contrast for a reflowed SMT board):

* ``missing_component``: one resistor or capacitor is not there (its tinned pads show);
* ``shifted_component``: one resistor or capacitor is 0.35-0.6 mm off its place and turned
  6-14 degrees;
* ``solder_bridge``: tin joins two neighbouring IC leads, 0.65-0.9 mm wide;
* ``mask_scratch``: a scratch through the solder mask, 5-9 mm long, 0.2-0.35 mm wide, showing
  the light laminate;
* a colour shift of the solder mask is the lot's ``color`` fault.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import paint_mask, seg_box, seg_ends, soft_segment, text_mask

__all__ = ["PcbaFamily"]

_R = 1.5
_HOLES = ((31.0, 18.5), (-31.0, 18.5), (-31.0, -18.5), (31.0, -18.5))
_RING_R = 2.8
_SOIC = (-16.0, -8.0)
_SOIC_BODY = (8.7, 3.9)
_PITCH, _LEAD_W, _LEAD_OUT = 1.27, 0.45, 1.2
# chips: (designator, centre, angle, length, width, body L*a*b*)
_CHIPS = (
    ("R1", (-24.0, 6.0), 0.0, 2.0, 1.25, (24.0, 0.0, 0.0)),
    ("R2", (-18.0, 6.0), 0.0, 2.0, 1.25, (24.0, 0.0, 0.0)),
    ("R3", (-12.0, 6.0), 0.0, 2.0, 1.25, (24.0, 0.0, 0.0)),
    ("C1", (-4.0, -8.0), 90.0, 3.2, 1.6, (62.0, 8.0, 28.0)),
    ("C2", (-4.0, 6.0), 0.0, 3.2, 1.6, (62.0, 8.0, 28.0)),
)
_TERM = 0.45  # termination length at each end of a chip
_PAD_OUT = 0.35  # pad beyond the chip's end
_TP = tuple((14.0 + 4.0 * i, 15.0) for i in range(5))
_TRACE_W = 0.3
_LAB_GOLD = (78.0, 2.0, 30.0)
_LAB_TIN = (80.0, -0.5, 2.0)
_LAB_LAMINATE = (72.0, -4.0, 22.0)
_LAB_SILK = (92.0, 0.0, 2.0)
_TITLE_BOX = (8.0, -20.0, 33.0, -15.0)
_GRID = 0.02


@functools.lru_cache(maxsize=1)
def _title_mask() -> np.ndarray:
    m = text_mask(["GV-PCB-07 REV A"], _TITLE_BOX, line_h_mm=3.2, weight=0.13)
    m.setflags(write=False)
    return m


def _traces() -> list[tuple[np.ndarray, np.ndarray]]:
    """Trace segments (nested L shapes that never cross), product mm."""
    segs = []
    for i, (tx, ty) in enumerate(_TP):
        y = 9.3 - 1.2 * i
        segs.append((np.array([0.0, y]), np.array([tx, y])))
        segs.append((np.array([tx, y]), np.array([tx, ty])))
    for k in range(3):  # from the IC's right leads to the title's corner
        y = -12.5 - 1.0 * k
        segs.append((np.array([-9.0, y]), np.array([5.0 - k, y])))
    return segs


def _box_sdf(x: np.ndarray, y: np.ndarray, c: tuple[float, float], ang: float, hx: float, hy: float,
             r: float = 0.05) -> np.ndarray:
    """Signed distance (mm) to a rectangle of half sides ``hx, hy`` turned by ``ang`` degrees."""
    ca, sa = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    u = (x - c[0]) * ca + (y - c[1]) * sa
    v = -(x - c[0]) * sa + (y - c[1]) * ca
    return _sdf_round_box(u, v, 0.0, 0.0, hx, hy, min(r, hx, hy))


def _box_corners(c: tuple[float, float], ang: float, hx: float, hy: float) -> np.ndarray:
    ca, sa = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    loc = np.array([(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)])
    return np.array(c) + loc @ np.array([[ca, sa], [-sa, ca]])


class PcbaFamily(Family):
    name = "pcba"
    product = "pcba-gv07-70x45"
    box_mm = (-37.5, -25.0, 37.5, 25.0)
    outline_mm = [(-35.0, -22.5), (35.0, -22.5), (35.0, 22.5), (-35.0, 22.5)]
    color_zones = {
        "mask": {"polygon_mm": [(12.0, -6.5), (30.0, -6.5), (30.0, 2.5), (12.0, 2.5)],
                 "target": (36.0, -30.0, 14.0), "golden": (36.2, -29.7, 14.3), "tolerance": 2.0, "weights": (1.0, 1.0, 1.0),
                 "name": "Solder mask green (demo)"},
    }
    dimensions = {
        "board_width": {"nominal": 70.0, "tol": 0.2, "measure": "width",
                        "caliper_mm": {"center": (0.0, -1.5), "angle_deg": 0.0, "length": 84.0, "width": 1.5}},
        "board_height": {"nominal": 45.0, "tol": 0.2, "measure": "width",
                         "caliper_mm": {"center": (6.0, 0.0), "angle_deg": 90.0, "length": 57.0, "width": 1.5}},
        "hole_diameter": {"nominal": 3.2, "tol": 0.08, "measure": "diameter",
                          "circle_mm": {"center": _HOLES[0], "radius": 1.6, "search": 0.8}},
    }
    anomaly_zones = {
        "assembly": {"polygon_mm": [(-34.5, -22.0), (3.0, -22.0), (3.0, 22.0), (-34.5, 22.0)], "defect_type": "other"},
        "board": {"polygon_mm": [(3.0, -22.0), (34.5, -22.0), (34.5, 22.0), (3.0, 22.0)], "defect_type": "finish"},
    }
    defect_zone = {"missing_component": "assembly", "shifted_component": "assembly", "solder_bridge": "assembly",
                   "mask_scratch": "board"}
    variation = {"silk_dx_mm": (0.0, 0.1), "silk_dy_mm": (0.0, 0.1), "tin_gloss": (1.0, 0.15)}
    marker_spot_mm = (-62.0, 0.0)
    ruler_spot_mm = (0.0, 42.5)

    # -- geometry --------------------------------------------------------------------------
    @staticmethod
    def _half(u: ZooUnit) -> tuple[float, float]:
        return u.dim("board_width") / 2.0, u.dim("board_height") / 2.0

    @staticmethod
    def _placements(u: ZooUnit) -> list[tuple[tuple[float, float], float]]:
        """Where each chip sits on this unit (centre, angle): the design plus pick-and-place scatter and defects."""
        rng = np.random.default_rng([int(u.texture_seed), 71])
        out = []
        for _, (cx, cy), ang, _, _, _ in _CHIPS:
            dx, dy = rng.uniform(-0.05, 0.05, 2)
            out.append(((cx + float(dx), cy + float(dy)), ang + float(rng.uniform(-0.8, 0.8))))
        for d in u.defects:
            if d.kind == "shifted_component":
                (cx, cy), ang = out[d.index]
                out[d.index] = ((cx + d.center_mm[0], cy + d.center_mm[1]), ang + d.angle_deg)
        return out

    @staticmethod
    def _nominal_place(u: ZooUnit, i: int) -> tuple[tuple[float, float], float]:
        """Chip ``i`` where the unit's pick-and-place put it before any defect."""
        return PcbaFamily._placements(ZooUnit(family=u.family, texture_seed=u.texture_seed))[i]

    @staticmethod
    def _leads() -> list[tuple[tuple[float, float], float, float]]:
        """SOIC leads: (centre, half length along y, half width along x)."""
        out = []
        hy = _SOIC_BODY[1] / 2
        for side in (-1.0, 1.0):
            for k in range(7):
                x = _SOIC[0] + (k - 3) * _PITCH
                out.append(((x, _SOIC[1] + side * (hy + _LEAD_OUT / 2)), _LEAD_OUT / 2, _LEAD_W / 2))
        return out

    @staticmethod
    def _bridge_ends(d: ZooDefect) -> tuple[np.ndarray, np.ndarray]:
        side = 1.0 if d.index >= 6 else -1.0
        k = d.index % 6
        y = _SOIC[1] + side * (_SOIC_BODY[1] / 2 + _LEAD_OUT * 0.6)
        x0 = _SOIC[0] + (k - 3) * _PITCH
        return np.array([x0, y]), np.array([x0 + _PITCH, y])

    @staticmethod
    def _grid_of(box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        return xs[None, :], ys[:, None]

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind in ("missing_component", "shifted_component"):
            i = int(rng.integers(len(_CHIPS)))
            name = _CHIPS[i][0]
            if kind == "missing_component":
                return ZooDefect(kind, index=i), f"{name} missing"
            r, a = float(rng.uniform(0.35, 0.6)), float(rng.uniform(0, 2 * np.pi))
            turn = float(rng.uniform(6.0, 14.0)) * (1 if rng.random() < 0.5 else -1)
            return (ZooDefect(kind, center_mm=(r * math.cos(a), r * math.sin(a)), angle_deg=turn, index=i, strength=r),
                    f"{name} {r:.2f} mm off its place, turned {turn:+.0f} degrees")
        if kind == "solder_bridge":
            k = int(rng.integers(12))
            w = float(rng.uniform(0.65, 0.9))
            side = "bottom" if k >= 6 else "top"
            return ZooDefect(kind, width_mm=w, index=k), f"solder bridge {w:.2f} mm wide between two {side} leads of U1"
        if kind == "mask_scratch":
            ln, wd = float(rng.uniform(5.0, 9.0)), float(rng.uniform(0.2, 0.35))
            c = (float(rng.uniform(10.0, 29.0)), float(rng.uniform(-11.0, -10.5)))
            return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=float(rng.uniform(-25.0, 25.0))),
                    f"mask scratch {ln:.1f} x {wd:.2f} mm")
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        if d.kind == "mask_scratch":
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            r = d.width_mm / 2 + 0.15
            box = seg_box(p0, p1, r)
            return box, d.length_mm * d.width_mm
        if d.kind == "solder_bridge":
            p0, p1 = self._bridge_ends(d)
            r = d.width_mm / 2 + 0.1
            box = (float(p0[0]) - r, float(p0[1]) - r, float(p1[0]) + r, float(p1[1]) + r)
            X, Y = self._grid_of(box)
            blob = soft_segment(X, Y, p0, p1, d.width_mm / 2, 0.1) > 0.5
            leads = np.zeros_like(blob)
            for c, hy, hx in self._leads():
                leads |= _box_sdf(X, Y, c, 0.0, hx, hy) < 0
            return box, float((blob & ~leads).sum() * _GRID * _GRID)
        _, _, _, ln, wd, _ = _CHIPS[d.index]
        c0, a0 = self._nominal_place(unit, d.index)
        pts = _box_corners(c0, a0, ln / 2, wd / 2)
        if d.kind == "missing_component":
            return ((float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())),
                    ln * wd)
        c1 = (c0[0] + d.center_mm[0], c0[1] + d.center_mm[1])
        a1 = a0 + d.angle_deg
        pts = np.vstack([pts, _box_corners(c1, a1, ln / 2, wd / 2)])
        box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        X, Y = self._grid_of(box)
        a = _box_sdf(X, Y, c0, a0, ln / 2, wd / 2) < 0
        b = _box_sdf(X, Y, c1, a1, ln / 2, wd / 2) < 0
        return box, float((a ^ b).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        mask = u.lab("mask")
        hw, hh = self._half(u)
        rng = np.random.default_rng([int(u.texture_seed), 73])
        rs, cs, X, Y = cv.roi((-hw - 0.5, -hh - 0.5, hw + 0.5, hh + 0.5))
        sdf = _sdf_round_box(X, Y, 0.0, 0.0, hw, hh, _R)
        # glass weave under the mask (0.5 mm bundles) and a soft unevenness of the mask
        weave = np.sin(2 * np.pi * X / 0.5) * np.sin(2 * np.pi * Y / 0.5)
        noise = _noise_field(rng, (cv.h, cv.w), 0.3 / cv.t)[rs, cs]
        l_f = mask[0] + 0.35 * weave + 0.3 * noise
        for p0, p1 in _traces():  # copper under the mask, lighter
            l_f = l_f + 5.0 * soft_segment(X, Y, p0, p1, _TRACE_W / 2, cv.t)
        # the routed edge shows the laminate through a thinner mask
        l_f = l_f + 8.0 * np.clip(1.0 + sdf / 0.3, 0.0, 1.0) * (sdf < 0)
        cov = cv.coverage_from_sdf(sdf)
        cv.paint(rs, cs, cov, _rgb_from_l(np.clip(l_f, mask[0] - 10, mask[0] + 20), mask, mask[0] - 10, mask[0] + 20))
        defects = {d.kind: d for d in u.defects}
        if "mask_scratch" in defects:
            d = defects["mask_scratch"]
            p0, p1 = seg_ends(d.center_mm, d.length_mm, d.angle_deg)
            r = d.width_mm / 2 + 0.2
            rs2, cs2, X2, Y2 = cv.roi(seg_box(p0, p1, r))
            scov = soft_segment(X2, Y2, p0, p1, d.width_mm / 2, 0.1) * np.float32(0.8)
            cv.paint(rs2, cs2, scov, lab_to_linear_srgb(_LAB_LAMINATE))
        gold = lab_to_linear_srgb(_LAB_GOLD)
        gloss = u.var("tin_gloss")
        tin = lab_to_linear_srgb((_LAB_TIN[0] + 25.0 * (gloss - 1.0), _LAB_TIN[1], _LAB_TIN[2]))  # ±3.75 L*
        # silkscreen: component outlines and the title, shifted together by the print registration
        sx, sy = u.var("silk_dx_mm"), u.var("silk_dy_mm")
        silk = lab_to_linear_srgb(_LAB_SILK)
        outlines = [((_SOIC[0], _SOIC[1]), 0.0, _SOIC_BODY[0] / 2 + 0.5, _SOIC_BODY[1] / 2 + _LEAD_OUT + 0.4)]
        outlines += [((cx, cy), ang, ln / 2 + _PAD_OUT + 0.4, wd / 2 + 0.45) for _, (cx, cy), ang, ln, wd, _ in _CHIPS]
        for (cx, cy), ang, hx, hy in outlines:
            sc = (cx + sx, cy + sy)
            ext = max(hx, hy) + 0.3
            rs2, cs2, X2, Y2 = cv.roi((sc[0] - ext, sc[1] - ext, sc[0] + ext, sc[1] + ext))
            ring = np.abs(_box_sdf(X2, Y2, sc, ang, hx, hy)) - 0.075
            cv.paint(rs2, cs2, cv.coverage_from_sdf(ring), silk)
        paint_mask(cv, _title_mask(), _TITLE_BOX, silk, dx_mm=sx, dy_mm=sy)
        # gold: test points and the mounting holes' rings
        for tx, ty in _TP:
            rs2, cs2, X2, Y2 = cv.roi((tx - 0.8, ty - 0.8, tx + 0.8, ty + 0.8))
            cv.paint(rs2, cs2, cv.coverage_from_sdf(np.hypot(X2 - tx, Y2 - ty) - 0.6), gold)
        for hx_, hy_ in _HOLES:
            rs2, cs2, X2, Y2 = cv.roi((hx_ - _RING_R - 0.2, hy_ - _RING_R - 0.2, hx_ + _RING_R + 0.2, hy_ + _RING_R + 0.2))
            cv.paint(rs2, cs2, cv.coverage_from_sdf(np.hypot(X2 - hx_, Y2 - hy_) - _RING_R), gold)
        # chips: tinned pads (where the design puts them), then the parts as placed
        place = self._placements(u)
        for i, (_, (cx, cy), ang, ln, wd, body) in enumerate(_CHIPS):
            ca, sa = math.cos(math.radians(ang)), math.sin(math.radians(ang))
            for end in (-1.0, 1.0):
                off = end * (ln / 2 - _TERM / 2 + _PAD_OUT / 2)
                pc = (cx + off * ca, cy + off * sa)
                hx, hy = (_TERM + _PAD_OUT) / 2 + 0.1, wd / 2 + 0.1
                rs2, cs2, X2, Y2 = cv.roi((pc[0] - 2.0, pc[1] - 2.0, pc[0] + 2.0, pc[1] + 2.0))
                cv.paint(rs2, cs2, cv.coverage_from_sdf(_box_sdf(X2, Y2, pc, ang, hx, hy)), tin)
            if "missing_component" in defects and defects["missing_component"].index == i:
                continue
            c, a = place[i]
            rs2, cs2, X2, Y2 = cv.roi((c[0] - ln, c[1] - ln, c[0] + ln, c[1] + ln))
            cv.paint(rs2, cs2, cv.coverage_from_sdf(_box_sdf(X2, Y2, c, a, ln / 2, wd / 2)), tin)  # terminations
            body_field = body[0] + 0.4 * _noise_field(np.random.default_rng([int(u.texture_seed), 80 + i]),
                                                      (rs2.stop - rs2.start, cs2.stop - cs2.start), 0.2 / cv.t)
            bc = cv.coverage_from_sdf(_box_sdf(X2, Y2, c, a, ln / 2 - _TERM, wd / 2))
            cv.paint(rs2, cs2, bc, _rgb_from_l(body_field, body, body[0] - 3, body[0] + 3))
        # the IC: leads, then its body with the pin-1 dimple
        for c, hy, hx in self._leads():
            rs2, cs2, X2, Y2 = cv.roi((c[0] - hx - 0.2, c[1] - hy - 0.2, c[0] + hx + 0.2, c[1] + hy + 0.2))
            cv.paint(rs2, cs2, cv.coverage_from_sdf(_box_sdf(X2, Y2, c, 0.0, hx, hy)), tin)
        bx, by = _SOIC_BODY[0] / 2, _SOIC_BODY[1] / 2
        rs2, cs2, X2, Y2 = cv.roi((_SOIC[0] - bx - 0.2, _SOIC[1] - by - 0.2, _SOIC[0] + bx + 0.2, _SOIC[1] + by + 0.2))
        ic = (20.0, 0.0, 0.0)
        l_ic = ic[0] + 0.5 * _noise_field(rng, (cv.h, cv.w), 0.15 / cv.t)[rs2, cs2]
        l_ic = l_ic - 6.0 * np.clip(0.5 - (np.hypot(X2 - (_SOIC[0] - bx + 0.9), Y2 - (_SOIC[1] + by - 0.9)) - 0.4) / cv.t,
                                    0.0, 1.0)
        cv.paint(rs2, cs2, cv.coverage_from_sdf(_box_sdf(X2, Y2, _SOIC, 0.0, bx, by, r=0.2)),
                 _rgb_from_l(np.clip(l_ic, 10, 26), ic, 10, 26))
        if "solder_bridge" in defects:
            d = defects["solder_bridge"]
            p0, p1 = self._bridge_ends(d)
            r = d.width_mm / 2 + 0.2
            rs2, cs2, X2, Y2 = cv.roi((float(p0[0]) - r, float(p0[1]) - r, float(p1[0]) + r, float(p1[1]) + r))
            cv.paint(rs2, cs2, soft_segment(X2, Y2, p0, p1, d.width_mm / 2, 0.1), tin)
        # through holes: remove the material (premultiplied colour and alpha together)
        assert cv.alpha is not None  # zoo textures are painted on an alpha canvas
        hr = u.dim("hole_diameter") / 2.0
        for hx_, hy_ in _HOLES:
            rs2, cs2, X2, Y2 = cv.roi((hx_ - hr - 0.2, hy_ - hr - 0.2, hx_ + hr + 0.2, hy_ + hr + 0.2))
            keep = 1.0 - cv.coverage_from_sdf(np.hypot(X2 - hx_, Y2 - hy_) - hr)
            cv.rgb[rs2, cs2] *= keep[..., None]
            cv.alpha[rs2, cs2] *= keep
