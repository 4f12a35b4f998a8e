"""Zoo family "sole": a moulded black rubber outsole piece (a heel-and-forefoot section) with its tread.

A held-out family (like ``pcba`` and ``wood``: built after the others, nobody tunes to it). A
dark, nearly neutral product whose features are relief, not print: the tread, the moulded
lettering and the edge show only as the light from the top left catches them, a few L* at most.

Design (product mm, origin at the piece's centre, x right towards the toe, y down): an outline
``sole_length`` x ``sole_width`` (90 x 40 mm), the heel end rounded (corners r = 15 mm), the toe
end cut square (corners r = 5 mm), in carbon-black compound (L* 27, a* 0.4, b* 1.6: nearly
neutral, slightly warm) with

* a fine matte mould finish (a stipple of 0.12 mm cells, σ 1 L*, new on every unit);
* a moulded edge rounded over 0.8 mm, lit from the top left (±4 L* across it), and inside it a
  flat rim band 2.2 mm wide at the lugs' height;
* the tread, raised lugs on a groove floor (lug tops +2.5 L* x the unit's sheen, walls 0.35 mm
  wide, +3.5 L* on the walls facing the light and -3.5 L* on the others):
  - the heel (x < -17 mm): hexagonal lugs, 3.8 mm across the flats on a 5 mm pitch;
  - the forefoot (x > 5 mm): chevrons pointing to the toe, bars 2 mm wide on a 5.5 mm pitch,
    their arms swept back 35 degrees, cut off by the rim;
* two through holes Ø ``hole_diameter`` (4.5 mm; the heel's fixing holes) at (-33, ±8), each in
  a flat raised boss Ø 8 mm, their rim a little in shadow (-4 L* over 0.3 mm); the platen or the
  table shows through them;
* the waist: a plain recessed panel at groove level (x -17 to 5 mm) with the moulded lettering
  "GV-07" / "EU 42" (cap height 3.4 mm, embossed 0.6 of a lug's height: about +1.5 L* on its
  tops and ±2 L* on its edges).

Production variation: the compound's tone within tolerance (carbon-black batch,
:meth:`Family.draw_production`), length, width and holes within ±0.3 x tolerance (shrinkage),
the mould finish (texture seed), the sheen of the lug tops (``sheen`` 0.8-1.2: the lugs' top
contrast 2.0-3.0 L*) and mould-release bloom (``bloom`` 0-1: a faint grey haze in soft patches
of about 10 mm, up to +1.5 L* and a little less chroma; the buyer allows it).

Defects (realistic size and contrast for moulded rubber):

* ``flash``: a thin fin of excess rubber at the parting line, 0.3-0.8 mm beyond the outline over
  5-15 mm of a straight side or the toe (ragged, smooth, +2 L*);
* ``short_shot``: one chevron lug not filled to its end (air trapped in the lug's cavity): its
  outer 2-5 mm missing, the fill front rounded; only the groove floor shows there;
* ``bubble``: a blister over a void Ø 1.15-3 mm, its centre dark (ΔL* -6 to -12) and its rim
  light (+0.55 x that, brighter on the side facing the light);
* ``contamination``: a light particle moulded into the face, +15 to +30 L*: an irregular crumb
  of equivalent Ø 1.15-2 mm (1-3 mm²) or a lint fibre 2.5-4 mm long and 0.3-0.45 mm thick,
  bent (smaller specks are below the spec's 1 mm² and so not defects by it);
* an off-tone compound (the lot's ``color`` fault), a piece moulded out of size or a hole
  off size (the ``dimension`` fault).

Spec (what a buyer of outsole parts would write): the compound's colour (ΔE00 2.5, a black
rubber) on a plain patch of the waist panel; the length (90 ± 0.5 mm, along the centre line),
the width (40 ± 0.4 mm, across the forefoot at x = 24 mm) and the fixing hole (Ø 4.5 ± 0.15 mm,
the upper one); anomaly zones: the face (``finish``: tread, bosses, panel and lettering, the
outline drawn 1.5 mm inside, defects from 1 mm²) and the edge (``other``: a band from 1.5 mm
inside the outline to 2 mm beyond it, as a keyhole polygon, defects from 1 mm²). The zones do
not overlap.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from ..render import _Canvas, _noise_field
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import MASK_PX_PER_MM, text_mask

__all__ = ["SoleFamily"]

_L_NOM, _W_NOM = 90.0, 40.0
_RB, _RF = 15.0, 5.0  # heel and toe corner radii
_BEVEL = 0.8
_RIM = 2.2
_GAP = 0.8
_WALL = 0.35
_TOP_L, _WALL_L, _EDGE_L = 2.5, 3.5, 4.0
_LOGO_H = 0.6
_X_HEEL, _X_FORE = -17.0, 5.0
_HOLES = ((-33.0, -8.0), (-33.0, 8.0))
_BOSS_R = 4.0
_HOLE_RIM_MM, _HOLE_RIM_L = 0.3, 4.0
_HEX_F, _HEX_P, _HEX_O = 3.8, 5.0, (-31.0, 0.0)
_CHEV_P, _CHEV_W, _CHEV_A, _CHEV_X0 = 5.5, 2.0, 35.0, 8.0
_TEXT_BOX = (-14.0, -16.0, 4.0, -5.0)
_TEXT = ["GV-07", "EU 42"]
_LINE_MM = 5.5
_COLOR_BOX = (-14.0, 5.0, 0.0, 13.5)
_STIPPLE_MM, _STIPPLE_L = 0.12, 1.0
_BLOOM_MM, _BLOOM_L = 10.0, 1.5
_FLASH_L = 2.0
_LAB_CRUMB = (0.3, 2.5)  # a*, b* of a light contamination
_FACE_IN, _EDGE_OUT = 1.5, 2.0
_GRID = 0.02
_EDGE_NAMES = ("top", "bottom", "toe")
# where a defect may lie: clear of the colour zone, the calipers' lines (y = 0, x = 24) and the measured hole
_SPOT_AREAS = ((-27.5, -14.0, -21.0, -3.5), (-27.5, 3.5, -21.0, 14.0), (8.0, -14.0, 20.0, -3.5), (8.0, 3.5, 20.0, 14.0),
               (28.0, -13.0, 38.0, -3.5), (28.0, 3.5, 38.0, 13.0))
_FLASH_SPANS = {0: ((-28.0, 21.0), (27.0, 38.0)), 1: ((-28.0, 21.0), (27.0, 38.0)), 2: ((-13.0, -2.5), (2.5, 13.0))}
_SHORT_CHEVRONS = (2, 3, 4, 6, 7)  # chevrons whose arms end on the rim, clear of the width caliper


def _rect(b: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    return [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])]


def _outline_sdf(x: np.ndarray, y: np.ndarray, hl: float, hw: float) -> np.ndarray:
    """Signed distance (mm, < 0 inside) to the outline: a box with heel and toe corner radii."""
    r = np.where(x < 0, _RB, _RF)
    qx = np.abs(x) - hl + r
    qy = np.abs(y) - hw + r
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def _outline_poly(hl: float, hw: float, d: float, n_arc: int) -> list[tuple[float, float]]:
    """The outline offset by ``d`` mm (outward > 0), from the toe's centre round (toe-bottom,
    heel-bottom, heel-top, toe-top) back to it; ``n_arc`` points per corner."""
    pts = [(hl + d, 0.0)]
    for (cx, cy, r), a0 in (((hl - _RF, hw - _RF, _RF), 0.0), ((-hl + _RB, hw - _RB, _RB), 90.0),
                            ((-hl + _RB, -hw + _RB, _RB), 180.0), ((hl - _RF, -hw + _RF, _RF), 270.0)):
        rr = max(r + d, 0.0)
        for a in np.linspace(a0, a0 + 90.0, n_arc):
            pts.append((round(cx + rr * math.cos(math.radians(a)), 4), round(cy + rr * math.sin(math.radians(a)), 4)))
    pts.append((hl + d, 0.0))
    return pts


def _corners_poly() -> list[tuple[float, float]]:
    """Nominal outline as 12 points (3 per rounded corner): convex."""
    out = []
    for (cx, cy, r), a0 in (((_L_NOM / 2 - _RF, _W_NOM / 2 - _RF, _RF), 0.0), ((-_L_NOM / 2 + _RB, _W_NOM / 2 - _RB, _RB), 90.0),
                            ((-_L_NOM / 2 + _RB, -_W_NOM / 2 + _RB, _RB), 180.0), ((_L_NOM / 2 - _RF, -_W_NOM / 2 + _RF, _RF), 270.0)):
        for a in (a0, a0 + 45.0, a0 + 90.0):
            out.append((round(cx + r * math.cos(math.radians(a)), 4), round(cy + r * math.sin(math.radians(a)), 4)))
    return out


def _h(sd: np.ndarray) -> np.ndarray:
    """Height (0 floor .. 1 top) of a raised feature of signed distance ``sd`` (walls ``_WALL`` wide)."""
    x = np.clip(0.5 - sd / _WALL, 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def _hex_sdf(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance to the nearest hexagonal lug of the heel lattice (flats facing ±x)."""
    p = _HEX_P
    sy = p * math.sqrt(3.0)
    best = None
    for ox, oy in ((0.0, 0.0), (p / 2, sy / 2)):
        cx = _HEX_O[0] + ox + p * np.round((x - _HEX_O[0] - ox) / p)
        cy = _HEX_O[1] + oy + sy * np.round((y - _HEX_O[1] - oy) / sy)
        dx, dy = x - cx, y - cy
        d2 = dx * dx + dy * dy
        if best is None:
            best = (d2, dx, dy)
        else:
            take = d2 < best[0]
            best = (np.where(take, d2, best[0]), np.where(take, dx, best[1]), np.where(take, dy, best[2]))
    assert best is not None
    # iq's hexagon (flats facing ±y) with x and y swapped: flats facing ±x
    qx, qy = np.abs(best[2]), np.abs(best[1])
    kx, ky, kz = -0.866025404, 0.5, 0.577350269
    r = _HEX_F / 2
    dot = np.minimum(kx * qx + ky * qy, 0.0)
    qx, qy = qx - 2.0 * dot * kx, qy - 2.0 * dot * ky
    qx = qx - np.clip(qx, -kz * r, kz * r)
    qy = qy - r
    return np.hypot(qx, qy) * np.sign(qy)


def _heel_lugs(x: np.ndarray, y: np.ndarray, hl: float, hw: float) -> np.ndarray:
    region = np.maximum(_outline_sdf(x, y, hl, hw) + _RIM + _GAP, x - _X_HEEL)
    for hx, hy in _HOLES:
        region = np.maximum(region, _BOSS_R + _GAP - np.hypot(x - hx, y - hy))
    return np.maximum(_hex_sdf(x, y), region)


def _chevron(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bar signed distance, chevron index, distance along the arm from the tip and offset across it."""
    ta = math.tan(math.radians(_CHEV_A))
    ca, sa = math.cos(math.radians(_CHEV_A)), math.sin(math.radians(_CHEV_A))
    w = x + np.abs(y) * ta
    k = np.floor((w - (_CHEV_X0 - _CHEV_P / 2)) / _CHEV_P)
    xk = _CHEV_X0 + k * _CHEV_P
    u = w - xk
    s = -(x - xk) * sa + np.abs(y) * ca
    return np.abs(u) * ca - _CHEV_W / 2, k, s, u * ca


def _fore_lugs(x: np.ndarray, y: np.ndarray, hl: float, hw: float, short: "ZooDefect | None" = None) -> np.ndarray:
    region = np.maximum(_outline_sdf(x, y, hl, hw) + _RIM + _GAP, _X_FORE - x)
    bar, k, s, v = _chevron(x, y)
    sd = np.maximum(bar, region)
    if short is not None:
        kk, side = divmod(short.index, 2)
        arm = (k == kk) & ((y > 0) == bool(side))
        # the fill front stops at s_front, bulging 0.5 mm further on the bar's centre line
        keep = s - short.strength - 0.5 * (1.0 - np.clip(2.0 * v / _CHEV_W, -1.0, 1.0) ** 2)
        sd = np.where(arm, np.maximum(sd, keep), sd)
    return sd


@functools.lru_cache(maxsize=1)
def _text_mask() -> np.ndarray:
    m = text_mask(_TEXT, _TEXT_BOX, line_h_mm=_LINE_MM, weight=0.13)
    m.setflags(write=False)
    return m


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class SoleFamily(Family):
    name = "sole"
    product = "rubber-outsole-90x40"
    box_mm = (-48.0, -23.0, 48.0, 23.0)
    outline_mm = _corners_poly()
    color_zones = {
        "rubber": {"polygon_mm": _rect(_COLOR_BOX), "target": (27.0, 0.4, 1.6), "golden": (27.3, 0.5, 1.8),
                   "tolerance": 2.5, "weights": (1.0, 1.0, 1.0), "name": "Outsole black compound (demo)"},
    }
    dimensions = {
        "sole_length": {"nominal": _L_NOM, "tol": 0.5, "measure": "width",
                        "caliper_mm": {"center": (0.0, 0.0), "angle_deg": 0.0, "length": 104.0, "width": 2.0}},
        "sole_width": {"nominal": _W_NOM, "tol": 0.4, "measure": "width",
                       "caliper_mm": {"center": (24.0, 0.0), "angle_deg": 90.0, "length": 54.0, "width": 2.0}},
        "hole_diameter": {"nominal": 4.5, "tol": 0.15, "measure": "diameter",
                          "circle_mm": {"center": _HOLES[0], "radius": 2.25, "search": 1.0}},
    }
    anomaly_zones = {
        "face": {"polygon_mm": _outline_poly(_L_NOM / 2, _W_NOM / 2, -_FACE_IN, 13)[1:-1], "defect_type": "finish",
                 "min_area_mm2": 1.0},
        "edge": {"polygon_mm": (_outline_poly(_L_NOM / 2, _W_NOM / 2, _EDGE_OUT, 13)
                                + _outline_poly(_L_NOM / 2, _W_NOM / 2, -_FACE_IN, 13)[::-1]),
                 "defect_type": "other", "min_area_mm2": 1.0},
    }
    defect_zone = {"flash": "edge", "short_shot": "face", "bubble": "face", "contamination": "face"}
    variation = {"sheen": (1.0, 0.2), "bloom": (0.5, 0.5)}
    marker_spot_mm = (-70.0, 0.0)
    ruler_spot_mm = (0.0, 40.0)

    # -- geometry ----------------------------------------------------------------------
    @staticmethod
    def _half(u: ZooUnit) -> tuple[float, float]:
        return u.dim("sole_length") / 2.0, u.dim("sole_width") / 2.0

    @staticmethod
    def _flash_frame(d: ZooDefect, half: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """Outward normal, tangent and the straight side's offset from the centre."""
        nv, tv = {0: ((0.0, -1.0), (1.0, 0.0)), 1: ((0.0, 1.0), (1.0, 0.0)), 2: ((1.0, 0.0), (0.0, 1.0))}[d.index]
        return np.asarray(nv), np.asarray(tv), half[1] if d.index < 2 else half[0]

    @staticmethod
    def _flash_height(d: ZooDefect, s: np.ndarray) -> np.ndarray:
        """How far (mm) the flash stands beyond the outline at ``s`` along the side (0 off its span)."""
        uu = (s - d.center_mm[0]) / (d.length_mm / 2.0)
        rng = np.random.default_rng([int(d.seed), 83])
        k1, k2, p1, p2 = rng.uniform(1.5, 3.0), rng.uniform(9.0, 15.0), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
        env = np.clip(1.0 - uu**2, 0.0, None) ** 0.35
        rag = 0.8 + 0.14 * np.sin(k1 * np.pi * uu + p1) + 0.06 * np.sin(k2 * np.pi * uu + p2)
        return d.strength * env * rag

    @staticmethod
    def _speck_circles(d: ZooDefect) -> np.ndarray:
        rng = np.random.default_rng([int(d.seed), 89])
        ang = rng.uniform(0, 2 * np.pi, 3)
        rad = d.length_mm / 2 * rng.uniform(0.15, 0.35, 3)
        r = d.length_mm / 2 * rng.uniform(0.45, 0.65, 3)
        c = np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)
        return np.vstack([[d.center_mm[0], d.center_mm[1], 0.7 * d.length_mm / 2], c])

    @staticmethod
    def _fibre_points(d: ZooDefect) -> np.ndarray:
        """The fibre's centre line: a bent curve (quadratic Bézier) ``length_mm`` long, 16 points."""
        rng = np.random.default_rng([int(d.seed), 97])
        a = math.radians(d.angle_deg)
        u, n = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        c = np.asarray(d.center_mm)
        p0, p2 = c - u * d.length_mm / 2, c + u * d.length_mm / 2
        p1 = c + n * d.length_mm * rng.uniform(-0.3, 0.3)
        t = np.linspace(0.0, 1.0, 16)[:, None]
        return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2

    @staticmethod
    def _fibre_sdf(x: np.ndarray, y: np.ndarray, pts: np.ndarray, half_w: float) -> np.ndarray:
        out = None
        for p0, p1 in zip(pts[:-1], pts[1:]):
            dd = p1 - p0
            t = np.clip(((x - p0[0]) * dd[0] + (y - p0[1]) * dd[1]) / float(dd @ dd), 0.0, 1.0)
            dist = np.hypot(x - (p0[0] + t * dd[0]), y - (p0[1] + t * dd[1]))
            out = dist if out is None else np.minimum(out, dist)
        assert out is not None
        return out - half_w

    def _speck_area(self, d: ZooDefect) -> float:
        """Area (mm²) of a crumb's outline (it lies within ``length_mm / 2`` of its centre)."""
        step = d.length_mm / 200.0
        g = (np.arange(-120, 120) + 0.5) * step
        return float((self._contamination_sdf(d, d.center_mm[0] + g[None, :], d.center_mm[1] + g[:, None]) < 0).sum()
                     * step * step)

    def _contamination_sdf(self, d: ZooDefect, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if d.index == 0:
            return np.min([np.hypot(x - cx, y - cy) - r for cx, cy, r in self._speck_circles(d)], axis=0)
        return self._fibre_sdf(x, y, self._fibre_points(d), d.width_mm / 2)

    @staticmethod
    def _bubble_dl(d: ZooDefect, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """ΔL* of a blister: dark centre (the void), a light rim brighter towards the light."""
        rr = np.hypot(x - d.center_mm[0], y - d.center_mm[1]) / (d.length_mm / 2)
        th = np.arctan2(y - d.center_mm[1], x - d.center_mm[0])
        pit = -d.strength * np.clip(1.0 - (rr / 0.65) ** 2, 0.0, 1.0)
        lit = 1.0 + 0.4 * np.cos(th + 0.75 * np.pi)  # the rim faces the light on the top left (-135 deg)
        rim = 0.55 * d.strength * lit * np.exp(-(((rr - 0.85) / 0.13) ** 2)) * np.clip((1.15 - rr) / 0.1, 0.0, 1.0)
        return (pit + rim).astype(np.float32)

    @staticmethod
    def _grid(box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
        ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
        return xs[None, :], ys[:, None]

    @staticmethod
    def _box_of(m: np.ndarray, X: np.ndarray, Y: np.ndarray, margin: float) -> tuple[float, float, float, float]:
        rows, cols = np.nonzero(m)
        xs, ys = X[0], Y[:, 0]
        return (float(xs[cols.min()] - _GRID / 2 - margin), float(ys[rows.min()] - _GRID / 2 - margin),
                float(xs[cols.max()] + _GRID / 2 + margin), float(ys[rows.max()] + _GRID / 2 + margin))

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "flash":
            ln, h = float(rng.uniform(5.0, 15.0)), float(rng.uniform(0.3, 0.8))
            edges = [e for e in (0, 1, 2) if any(b - a >= ln for a, b in _FLASH_SPANS[e])]
            edge = edges[int(rng.integers(len(edges)))]
            spans = [(a, b) for a, b in _FLASH_SPANS[edge] if b - a >= ln]
            lo, hi = spans[int(rng.integers(len(spans)))]
            s0 = float(rng.uniform(lo + ln / 2, hi - ln / 2))
            return (ZooDefect(kind, center_mm=(s0, 0.0), length_mm=ln, strength=h, index=edge, seed=int(rng.integers(1 << 30))),
                    f"flash {ln:.1f} mm long, {h:.2f} mm beyond the outline on the {_EDGE_NAMES[edge]} side")
        if kind == "short_shot":
            k = _SHORT_CHEVRONS[int(rng.integers(len(_SHORT_CHEVRONS)))]
            side = int(rng.integers(2))
            m = float(rng.uniform(2.0, 5.0))
            s_end = (_W_NOM / 2 - _RIM - _GAP) / math.cos(math.radians(_CHEV_A))  # the arm's end on the rim
            return (ZooDefect(kind, length_mm=m, strength=s_end - m - 0.25, index=2 * k + side),
                    f"short shot: chevron {k + 1} {'lower' if side else 'upper'} arm {m:.1f} mm short of the rim")
        if kind in ("bubble", "contamination"):
            x1, y1, x2, y2 = _SPOT_AREAS[int(rng.integers(len(_SPOT_AREAS)))]
            c = (float(rng.uniform(x1, x2)), float(rng.uniform(y1, y2)))
            if kind == "bubble":
                dia, dl = float(rng.uniform(1.15, 3.0)), float(rng.uniform(6.0, 12.0))
                return (ZooDefect(kind, center_mm=c, length_mm=dia, strength=dl),
                        f"blister Ø {dia:.1f} mm, dark centre ΔL* -{dl:.0f}, light rim")
            dl = float(rng.uniform(15.0, 30.0))
            seed = int(rng.integers(1 << 30))
            if rng.random() < 0.5:
                # a crumb of equivalent Ø 1.15-2 mm: its outline (the seed's) scaled to that area
                dia = float(rng.uniform(1.15, 2.0))
                unit_area = self._speck_area(ZooDefect(kind, length_mm=1.0, index=0, seed=seed))
                ext = dia * math.sqrt(math.pi / 4.0 / unit_area)
                return (ZooDefect(kind, center_mm=c, length_mm=ext, strength=dl, index=0, seed=seed),
                        f"light crumb Ø {dia:.1f} mm ({ext:.1f} mm across) moulded in, ΔL* +{dl:.0f}")
            ln = float(rng.uniform(2.5, 4.0))
            wd = max(float(rng.uniform(0.3, 0.45)), 1.05 / ln)
            ang = float(rng.uniform(0.0, 180.0))
            return (ZooDefect(kind, center_mm=c, length_mm=ln, width_mm=wd, angle_deg=ang, strength=dl, index=1, seed=seed),
                    f"light fibre {ln:.1f} x {wd:.2f} mm moulded in, ΔL* +{dl:.0f}")
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        hl, hw = self._half(unit)
        if d.kind == "flash":
            nv, tv, off = self._flash_frame(d, (hl, hw))
            s = np.linspace(d.center_mm[0] - d.length_mm / 2, d.center_mm[0] + d.length_mm / 2, 4001)
            hgt = self._flash_height(d, s)
            pts = np.concatenate([s[:, None] * tv + off * nv, s[:, None] * tv + (off + hgt)[:, None] * nv])
            area = float(np.sum((hgt[1:] + hgt[:-1]) / 2 * np.diff(s)))
            return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())), area
        if d.kind == "short_shot":
            k, side = divmod(d.index, 2)
            # the arm's outer end on the rim (at the nominal width), and the grid round it
            ye = (_W_NOM / 2 - _RIM - _GAP) * (1 if side else -1)
            xe = _CHEV_X0 + k * _CHEV_P - abs(ye) * math.tan(math.radians(_CHEV_A))
            r = d.length_mm + 3.0
            X, Y = self._grid((xe - r, ye - r, xe + r, ye + r))
            old = _fore_lugs(X, Y, hl, hw)
            new = _fore_lugs(X, Y, hl, hw, d)
            changed = (new > old) & (old < _WALL / 2) & (new > -_WALL / 2)
            return self._box_of(changed, X, Y, 0.1), float(((old < 0) & (new >= 0)).sum() * _GRID * _GRID)
        if d.kind == "bubble":
            r = d.length_mm / 2 * 1.15 + 0.02
            cx, cy = d.center_mm
            return (cx - r, cy - r, cx + r, cy + r), math.pi * (d.length_mm / 2) ** 2
        # contamination
        cx, cy = d.center_mm
        ext = max(d.length_mm, 1.0) + 0.5
        X, Y = self._grid((cx - ext, cy - ext, cx + ext, cy + ext))
        sd = self._contamination_sdf(d, X, Y)
        return self._box_of(sd < 0.1, X, Y, 0.02), float((sd < 0).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    @staticmethod
    def _logo_cov(cv: _Canvas, rs: slice, cs: slice) -> np.ndarray:
        """Coverage of the moulded lettering over the region (blurred by the mould's radius: 0.1 mm)."""
        mask = _text_mask()
        p = MASK_PX_PER_MM
        src = mask
        if cv.t * p > 1.0:
            k = max(1, int(round(cv.t * p)))
            src = cv2.blur(mask, (k, k), borderType=cv2.BORDER_CONSTANT)
        x1, y1 = _TEXT_BOX[0], _TEXT_BOX[1]
        to_mask = np.array([[p, 0, -x1 * p - 0.5], [0, p, -y1 * p - 0.5], [0, 0, 1.0]])
        tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
        cov = cv2.warpAffine(src, (to_mask @ tex)[:2], (cs.stop - cs.start, rs.stop - rs.start),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        cov = np.clip(cov, 0.0, 1.0).astype(np.float32)
        sigma = 0.1 / cv.t
        return cv2.GaussianBlur(cov, (0, 0), sigma) if sigma > 0.3 else cov

    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        rubber = u.lab("rubber")
        hl, hw = self._half(u)
        defects = {d.kind: d for d in u.defects}
        rs, cs, X, Y = cv.roi((-hl - 1.5, -hw - 1.5, hl + 1.5, hw + 1.5))
        sdf = _outline_sdf(X, Y, hl, hw)
        # relief: rim, heel lugs, chevrons, bosses, lettering (0 groove floor .. 1 lug top)
        relief = _h(-(sdf + _RIM))
        relief = np.maximum(relief, _h(_heel_lugs(X, Y, hl, hw)))
        relief = np.maximum(relief, _h(_fore_lugs(X, Y, hl, hw, defects.get("short_shot"))))
        for hx, hy in _HOLES:
            relief = np.maximum(relief, _h(np.hypot(X - hx, Y - hy) - _BOSS_R))
        relief = np.maximum(relief, _LOGO_H * self._logo_cov(cv, rs, cs))
        gy, gx = np.gradient(relief.astype(np.float64), cv.t)
        wall = np.clip((gx + gy) / math.sqrt(2.0) * _WALL / 1.5, -1.0, 1.0)  # walls facing the top left are lit
        dl = u.var("sheen") * _TOP_L * relief + _WALL_L * wall
        # the moulded edge, rounded over and lit from the top left
        sy, sx = np.gradient(sdf.astype(np.float64), cv.t)
        bevel = np.clip(1.0 + sdf / _BEVEL, 0.0, 1.0) * (sdf < 0)
        dl = dl + bevel * _EDGE_L * (-(sx + sy) / math.sqrt(2.0))
        # the fixing holes' rims in shadow
        for hx, hy in _HOLES:
            rho = np.hypot(X - hx, Y - hy) - u.dim("hole_diameter") / 2
            dl = dl - _HOLE_RIM_L * np.clip(0.5 - (rho - _HOLE_RIM_MM) / cv.t, 0.0, 1.0)
        # the mould finish (stipple) and the release agent's bloom (soft grey patches)
        seed = int(u.texture_seed)
        shape = (cv.h, cv.w)
        stip = _noise_field(np.random.default_rng([seed, 81]), shape, max(_STIPPLE_MM / cv.t, 1.0))[rs, cs]
        inside = sdf < 0
        stip = (stip - stip[inside].mean()) / max(float(stip[inside].std()), 1e-6) * _STIPPLE_L
        haze = _smoothstep(0.5 + 0.6 * _noise_field(np.random.default_rng([seed, 82]), shape, _BLOOM_MM / cv.t)[rs, cs])
        haze = u.var("bloom") * haze
        dl = dl + stip + _BLOOM_L * haze
        if "bubble" in defects:
            dl = dl + self._bubble_dl(defects["bubble"], X, Y)
        zone = ((X >= _COLOR_BOX[0]) & (X <= _COLOR_BOX[2])) & ((Y >= _COLOR_BOX[1]) & (Y <= _COLOR_BOX[3]))
        dl = dl - float(dl[zone].mean())
        chroma = 1.0 - 0.15 * (haze - float(haze[zone].mean()))
        lab = np.stack([rubber[0] + dl, rubber[1] * chroma, rubber[2] * chroma], axis=-1)
        rgb = lab_to_linear_srgb(lab).astype(np.float32)
        if "contamination" in defects:
            d = defects["contamination"]
            ccov = (0.92 * np.clip(0.5 - self._contamination_sdf(d, X, Y) / cv.t, 0.0, 1.0))[..., None].astype(np.float32)
            crumb = lab_to_linear_srgb((rubber[0] + d.strength, *_LAB_CRUMB)).astype(np.float32)
            rgb = rgb * (1.0 - ccov) + crumb * ccov
        cov = cv.coverage_from_sdf(sdf)
        if "flash" in defects:
            d = defects["flash"]
            nv, tv, off = self._flash_frame(d, (hl, hw))
            s = X * tv[0] + Y * tv[1]
            n = X * nv[0] + Y * nv[1] - off
            on = np.abs(s - d.center_mm[0]) <= d.length_mm / 2
            fcov = cv.coverage_from_sdf(np.where(on, np.maximum(n - self._flash_height(d, s), -n - 0.5), 1.0))
            fin = lab_to_linear_srgb((rubber[0] + _FLASH_L, rubber[1], rubber[2])).astype(np.float32)
            rgb = np.where((fcov > cov)[..., None], fin, rgb)
            cov = np.maximum(cov, fcov)
        cv.paint(rs, cs, cov.astype(np.float32), rgb.astype(np.float32))
        # the through holes: remove the rubber (premultiplied colour and alpha together)
        assert cv.alpha is not None  # zoo textures are painted on an alpha canvas
        hr = u.dim("hole_diameter") / 2
        for hx, hy in _HOLES:
            rs2, cs2, X2, Y2 = cv.roi((hx - hr - 0.2, hy - hr - 0.2, hx + hr + 0.2, hy + hr + 0.2))
            keep = 1.0 - cv.coverage_from_sdf(np.hypot(X2 - hx, Y2 - hy) - hr)
            cv.rgb[rs2, cs2] *= keep[..., None]
            cv.alpha[rs2, cs2] *= keep
