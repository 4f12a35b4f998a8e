"""Zoo family "hardware": a metal zipper: two woven tapes, a plated chain of teeth, a slider with a pull tab.

Design (product mm, origin at the zipper's centre, x along the chain, y across): two polyester
tapes (x -45..45, y -13..-3 and 3..13; a fine twill relief of 1.0 L*), a chain of interlocked
plated teeth (elements 2.4 mm wide every 3 mm, ``chain_width`` = 6 mm across, each shaded as a
cylinder with a highlight), and a slider (body 16 x ``slider_width`` = 14 mm, corners r = 2 mm,
a shading gradient across it) with a pull tab (x 26..44, 8 mm wide, a hole Ø 3.6 mm, a
specular band). Teeth and slider share the plating's colour (one plating batch).

Production variation: the plating's gloss (specular strength), the tape's yarn (texture seed)
and the chain's phase along the tape (±0.3 mm).

Defects:

* ``missing_tooth``: one element of the visible chain is missing (the tape shows);
* ``bent_slider``: the slider and its tab sit 5-9 deg askew on the chain;
* a plating tone off the golden (brassy, dull, reddish ...) is the lot's ``color`` fault.
"""

from __future__ import annotations

import math

import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l, _sdf_round_box
from .base import Family, ZooDefect, ZooUnit

__all__ = ["HardwareFamily"]

_TAPE_X = 45.0
_TAPE_Y = (3.0, 13.0)
_PITCH, _TOOTH_W = 3.0, 2.4
_N_TEETH = 30
_SLIDER_C = (20.0, 0.0)
_SLIDER_L = 16.0
_TAB = (26.0, 44.0, 4.0)  # x from, x to, half height
_TAB_HOLE = (39.0, 0.0, 1.8)
_GRID = 0.05


def _tooth_x(i: int, phase: float) -> float:
    return -43.5 + _PITCH * i + phase


def _rot_about(x: np.ndarray, y: np.ndarray, c: tuple[float, float], angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of (x, y) in the frame of a part rotated by ``angle_deg`` about ``c`` (inverse rotation)."""
    a = math.radians(angle_deg)
    dx, dy = x - c[0], y - c[1]
    return c[0] + dx * math.cos(a) + dy * math.sin(a), c[1] - dx * math.sin(a) + dy * math.cos(a)


class HardwareFamily(Family):
    name = "hardware"
    product = "zipper-no5-brass"
    box_mm = (-47.0, -15.0, 47.0, 15.0)
    outline_mm = [(-45.0, -13.0), (45.0, -13.0), (45.0, 13.0), (-45.0, 13.0)]
    color_zones = {
        "plating": {"polygon_mm": [(13.5, -5.0), (18.5, -5.0), (18.5, 5.0), (13.5, 5.0)],
                    "target": (68.0, 3.5, 28.0), "golden": (68.3, 3.7, 27.6), "tolerance": 2.0, "weights": (1.0, 1.0, 1.0),
                    "name": "Antique brass plating (demo)"},
        "tape": {"polygon_mm": [(-40.0, -12.0), (-10.0, -12.0), (-10.0, -5.0), (-40.0, -5.0)],
                 "target": (24.0, 2.0, -14.0), "golden": (24.2, 2.2, -13.7), "tolerance": 1.5, "weights": (2.0, 1.0, 1.0),
                 "name": "Tape navy 560 (demo)"},
    }
    dimensions = {
        "chain_width": {"nominal": 6.0, "tol": 0.15, "measure": "width",
                        "caliper_mm": {"center": (_tooth_x(6, 0.0), 0.0), "angle_deg": 90.0, "length": 10.0, "width": 1.0}},
        "slider_width": {"nominal": 14.0, "tol": 0.3, "measure": "width",
                         "caliper_mm": {"center": (15.5, 0.0), "angle_deg": 90.0, "length": 21.0, "width": 1.0}},
    }
    anomaly_zones = {
        "chain": {"polygon_mm": [(-45.0, -4.5), (10.5, -4.5), (10.5, 4.5), (-45.0, 4.5)], "defect_type": "plating"},
        "slider": {"polygon_mm": [(10.5, -11.0), (46.0, -11.0), (46.0, 11.0), (10.5, 11.0)], "defect_type": "plating"},
    }
    defect_zone = {"missing_tooth": "chain", "bent_slider": "slider"}
    variation = {"gloss": (0.6, 0.2), "chain_phase_mm": (0.0, 0.3)}
    marker_spot_mm = (-68.0, 0.0)
    ruler_spot_mm = (0.0, 33.0)

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "missing_tooth":
            i = int(rng.integers(1, 16))  # visible, left of the slider; not the measured element (6)
            i = i + 1 if i == 6 else i
            return ZooDefect(kind, index=i), f"tooth {i} missing from the chain"
        if kind == "bent_slider":
            a = float(rng.uniform(5.0, 9.0)) * (1 if rng.random() < 0.5 else -1)
            return ZooDefect(kind, angle_deg=a), f"slider {a:+.1f} deg askew"
        raise ValueError(kind)

    def _slider_corners(self, unit: ZooUnit, angle_deg: float) -> np.ndarray:
        sh = unit.dim("slider_width") / 2.0
        x0 = _SLIDER_C[0] - _SLIDER_L / 2
        pts = np.array([[x0, -sh], [_TAB[1], -sh], [_TAB[1], sh], [x0, sh]], np.float64)
        a = math.radians(angle_deg)
        d = pts - _SLIDER_C
        return np.stack([_SLIDER_C[0] + d[:, 0] * math.cos(a) - d[:, 1] * math.sin(a),
                         _SLIDER_C[1] + d[:, 0] * math.sin(a) + d[:, 1] * math.cos(a)], axis=1)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        if d.kind == "missing_tooth":
            x = _tooth_x(d.index, unit.var("chain_phase_mm"))
            h = unit.dim("chain_width") / 2.0
            return (x - _TOOTH_W / 2, -h, x + _TOOTH_W / 2, h), _TOOTH_W * 2 * h
        # bent slider: where the slider (with its tab) is and where it should be; the area that changes
        pts = np.vstack([self._slider_corners(unit, 0.0), self._slider_corners(unit, d.angle_deg)])
        box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        X, Y = xs[None, :], ys[:, None]
        a = self._slider_sdf(unit, X, Y, 0.0) < 0
        b = self._slider_sdf(unit, X, Y, d.angle_deg) < 0
        return box, float((a ^ b).sum() * _GRID * _GRID)

    def _slider_sdf(self, unit: ZooUnit, x: np.ndarray, y: np.ndarray, angle_deg: float) -> np.ndarray:
        """Signed distance (mm) of the slider body + tab, minus the tab's hole."""
        xr, yr = _rot_about(x, y, _SLIDER_C, angle_deg)
        sh = unit.dim("slider_width") / 2.0
        body = _sdf_round_box(xr, yr, _SLIDER_C[0], _SLIDER_C[1], _SLIDER_L / 2, sh, 2.0)
        tab = _sdf_round_box(xr, yr, (_TAB[0] + _TAB[1]) / 2, 0.0, (_TAB[1] - _TAB[0]) / 2, _TAB[2], 2.5)
        hole = np.hypot(xr - _TAB_HOLE[0], yr - _TAB_HOLE[1]) - _TAB_HOLE[2]
        return np.maximum(np.minimum(body, tab), -hole)

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        tape, metal = u.lab("tape"), u.lab("plating")
        rng = np.random.default_rng([int(u.texture_seed), 59])
        # tapes: a twill relief (diagonal ribs 0.4 mm apart) plus yarn noise, zero-mean
        rs, cs, X, Y = cv.roi((-_TAPE_X, -_TAPE_Y[1], _TAPE_X, _TAPE_Y[1]))
        cov = cv.rect_coverage((-_TAPE_X, -_TAPE_Y[1], _TAPE_X, _TAPE_Y[1]))[2]
        rib = np.sin(2 * np.pi * (X + Y) / 0.4 * np.ones_like(Y))
        g = rib + 0.8 * _noise_field(rng, (cv.h, cv.w), 0.3 / cv.t)[rs, cs]
        g = (g - g.mean()) / max(float(g.std()), 1e-6) * 1.0
        cv.paint(rs, cs, cov, _rgb_from_l(tape[0] + g, tape, tape[0] - 8, tape[0] + 8))
        defects = {d.kind: d for d in u.defects}
        # chain: interlocked elements, each a shaded cylinder across x with a highlight
        ph = u.var("chain_phase_mm")
        ch = u.dim("chain_width") / 2.0
        gone = defects["missing_tooth"].index if "missing_tooth" in defects else -1
        for i in range(_N_TEETH):
            if i == gone:
                continue
            x = _tooth_x(i, ph)
            rs, cs, X, Y = cv.roi((x - _TOOTH_W / 2, -ch, x + _TOOTH_W / 2, ch))
            sd = _sdf_round_box(X, Y, x, 0.0, _TOOTH_W / 2, ch, 0.5)
            uu = (X - x) / (_TOOTH_W / 2) + 0.0 * Y
            l_t = metal[0] - 10.0 * uu**2 + 12.0 * u.var("gloss") * np.exp(-((uu + 0.3) / 0.25) ** 2) - 3.0
            # the interlock: a shade line where the scoops of the two tapes meet
            l_t = l_t - 6.0 * np.exp(-((Y - (0.8 if i % 2 else -0.8)) / 0.25) ** 2)
            cv.paint(rs, cs, cv.coverage_from_sdf(sd), _rgb_from_l(np.clip(l_t, 30, 98), metal, 30, 98))
        # slider + tab: plated, a gradient across y (zero-mean over the body), a specular band on the tab
        ang = defects["bent_slider"].angle_deg if "bent_slider" in defects else 0.0
        sh = u.dim("slider_width") / 2.0
        rs, cs, X, Y = cv.roi((_SLIDER_C[0] - _SLIDER_L / 2 - 3.0, -sh - 4.5, _TAB[1] + 3.0, sh + 4.5))
        sd = self._slider_sdf(u, X, Y, ang)
        xr, yr = _rot_about(X, Y, _SLIDER_C, ang)
        l_s = metal[0] - 4.0 * (yr / sh) + 0.0 * xr
        on_tab = xr > _TAB[0] + 1.0
        l_s = l_s + on_tab * (14.0 * u.var("gloss") * np.exp(-((yr + 1.5) / 0.7) ** 2))
        # the body's rim: a darker bevel 0.5 mm wide
        l_s = l_s - 8.0 * np.clip(1.0 + sd / 0.5, 0.0, 1.0) * (sd < 0)
        cv.paint(rs, cs, cv.coverage_from_sdf(sd), _rgb_from_l(np.clip(l_s, 30, 98), metal, 30, 98))
