"""Zoo family "ceramic": a round glazed ceramic dish with a gold rim band and a fired-on decal, seen from above.

This family is the zoo's held-out check (issue 13): it was built after the others and nobody
tunes the library to it. Its figures are meant to say how the pipeline does on a product the
team has not developed against.

Design (product mm, origin at the dish's centre, x right, y down): a rigid dish Ø ``diameter``
(70 mm nominal) in a celadon glaze (L* 62) with

* a fine mottle (0.5 mm cells, 0.4 L*) and a faint coarse one (5 mm, 0.12 L*), both zero-mean;
* a kiln-dust speckle: sparse iron specks (about 0.3 per cm², Ø 0.12-0.3 mm, ΔL* -5 to -12),
  new on every unit;
* a slightly shaded well (the slope at r ≈ 21 mm, -1.5 L*) and a rolled outer edge (-3 L* over
  the last 0.5 mm, lit from the top left);
* a burnished gold rim band ``band_width`` (2.0 mm) wide centred at r = 30.5 mm (scaled with the
  diameter; L* 72, b* 42, a faint ±1.5 L* sheen around it);
* a fired-on decal in the well: a cobalt branch with five leaves and an iron-red flower and bud,
  asymmetric (it pins the dish's rotation), within r = 13 mm of the centre; the decal lies
  ±0.15 mm, ±0.4 deg off nominal on good units (production variation);
* a glossy glaze: a soft specular highlight (Gaussian σ 9 mm, about +6 L* at its peak, white)
  that stays where the light is, so it moves over the dish when the dish is turned or shifted
  under the station's light, and with the light's direction in a hand-held photo. The golden
  captures share one texture (the golden unit photographed at its golden pose), so their
  highlight sits still while production units' highlight moves.

Production variation: the glaze colour within tolerance (the firing, :meth:`Family.draw_production`),
diameter and band width within ±0.3 x tolerance, the mottle and speckle (texture seed), the decal
placement and the glaze's gloss (highlight strength 0.8-1.2).

Defects (realistic size and contrast for fired tableware):

* ``edge_chip``: missing material on the outline, 3-6 mm along it, 0.8-1.6 mm deep, with the
  unglazed biscuit (L* 86) showing 0.4 mm wide along the fracture;
* ``pinholes``: a cluster of 5-9 dark pits Ø 0.35-0.55 mm, ΔL* -20 to -30, within Ø 1.6-3 mm,
  in the glazed well round the decal (r 18.8-20.7 mm); the truth area is the pits' own area;
* ``decal_shift``: the whole decal shifted 1.0-2.0 mm off the dish's centre (a decal turned
  about the centre of a plain round dish cannot be told from the dish turned: not a defect a
  photo can show, so the generator does not make it);
* ``thin_band``: thin / patchy gold over 6-10 mm of the rim band (20-90 % of the gold missing in
  patches, glaze showing through); the truth area is the equivalent area of gold missing;
* a glaze colour off the golden (a firing shift) is the lot's ``color`` fault; a diameter
  (shrinkage) or band-width fault is its ``dimension`` fault.

Spec (what a buyer would write): the glaze colour (ΔE00 2.0) on the flat rim (r 24-28.2 mm,
4 to 5 o'clock); the diameter (70 ± 0.35 mm, 0.5 %) and the band width (2.0 ± 0.2 mm, a
caliper across the band at 3 o'clock); anomaly zones: the decal (``print``, r < 16 mm), the
glaze round it (``finish``, r 16-23.5 mm) and the rim with its band and edge (``plating``,
r 23.5-36 mm: drawn on the dish, 1 mm past its edge so the outline lies inside it, as a buyer
draws a zone on the product and not on the table it lies on). The zones do not overlap (annuli as
keyhole polygons). An edge chip's axis-aligned truth box reaches past the rim zone's outer circle
(up to ~38 mm at 45 deg); a finding counts when it overlaps the box, so it need not be inside it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import cv2
import numpy as np

from ..render import _Canvas, _noise_field, _rgb_from_l
from ..scene import lab_to_linear_srgb
from .base import Family, ZooDefect, ZooUnit
from .paint import paint_coverage

__all__ = ["CeramicFamily"]

_R_NOM = 35.0
_BAND_RC = 30.5  # band centre radius on the nominal dish
_WELL_R = 21.0
_EDGE_MM = 0.5
_DECAL_BOX = (-13.0, -13.0, 13.0, 13.0)
_DECAL_PPM = 20.0
_ZONE_DECAL = 16.0
_ZONE_RIM = 23.5
_ZONE_OUT = 36.0  # the dish edge (35 mm, +-0.05 mm in production) plus 1 mm: on the product, not the table
_COLOR_ANGLES = (30.0, 60.0)  # the colour zone's sector (deg, from +x towards +y)
_LAB_GOLD = (72.0, 4.0, 42.0)
_LAB_BISCUIT = (86.0, 1.0, 9.0)
_LAB_COBALT = (36.0, 10.0, -42.0)
_LAB_IRON_RED = (46.0, 40.0, 32.0)
_HIGHLIGHT_STATION_MM = (-15.0, -13.0)  # where the light box's reflection sits (station mm from the golden place)
_HIGHLIGHT_SIGMA = 9.0
_HIGHLIGHT_LINEAR = 0.08  # linear-light white added at the peak (x gloss): about +6 L* on the glaze
_SPECK_PER_MM2 = 0.003
_GRID = 0.05


def _circle(r: float, n: int = 48, a0: float = 0.0, a1: float = 360.0) -> list[tuple[float, float]]:
    return [(r * math.cos(math.radians(a)), r * math.sin(math.radians(a))) for a in np.linspace(a0, a1, n)]


def _annulus(r_in: float, r_out: float, n: int = 72) -> list[tuple[float, float]]:
    """A keyhole polygon of an annulus: the outer circle, then the inner one backwards (slit at +x)."""
    outer = _circle(r_out, n + 1)
    inner = _circle(r_in, n + 1)[::-1]
    return [(round(x, 4), round(y, 4)) for x, y in outer + inner]


def _sector(r_in: float, r_out: float, a0: float, a1: float, n: int = 7) -> list[tuple[float, float]]:
    return _circle(r_out, n, a0, a1) + _circle(r_in, n, a0, a1)[::-1]


@functools.lru_cache(maxsize=1)
def _decal_masks() -> dict[str, np.ndarray]:
    """Coverage masks (over ``_DECAL_BOX`` at ``_DECAL_PPM``) of the decal's cobalt and iron-red print."""
    ss = 4
    p = _DECAL_PPM * ss
    n = int(round((_DECAL_BOX[2] - _DECAL_BOX[0]) * _DECAL_PPM))
    x0, y0 = _DECAL_BOX[0], _DECAL_BOX[1]

    def px(x: float, y: float) -> tuple[int, int]:
        return int(round((x - x0) * p)), int(round((y - y0) * p))

    cobalt = np.zeros((n * ss, n * ss), np.uint8)
    # the branch: a curved stem from the lower left to the flower, five leaves along it
    t = np.linspace(0.0, 1.0, 60)
    sx = -9.0 + 13.0 * t + 3.0 * np.sin(np.pi * t)
    sy = 9.0 - 15.0 * t + 1.5 * np.sin(np.pi * t)
    pts = np.array([px(a, b) for a, b in zip(sx, sy)], np.int32)
    cv2.polylines(cobalt, [pts], False, 255, thickness=int(round(0.5 * p)), lineType=cv2.LINE_8)
    for k, (tt, side, ln) in enumerate(((0.15, 1, 3.2), (0.3, -1, 3.6), (0.47, 1, 3.4), (0.62, -1, 3.0), (0.78, 1, 2.4))):
        i = int(tt * (len(t) - 1))
        dx, dy = sx[i + 1] - sx[i - 1], sy[i + 1] - sy[i - 1]
        ang = math.degrees(math.atan2(dy, dx)) + side * 55.0
        c = (sx[i] + side * 0.0 + 0.5 * ln * math.cos(math.radians(ang)), sy[i] + 0.5 * ln * math.sin(math.radians(ang)))
        cv2.ellipse(cobalt, px(*c), (int(round(0.5 * ln * p)), int(round((0.55 + 0.05 * k) * p))), ang, 0, 360, 255, -1,
                    cv2.LINE_8)
    red = np.zeros_like(cobalt)
    # the flower: six petals round a small centre (left open), and a bud on its own stalk
    fx, fy = 6.5, -6.0
    for k in range(6):
        a = math.radians(60.0 * k + 15.0)
        cv2.ellipse(red, px(fx + 2.2 * math.cos(a), fy + 2.2 * math.sin(a)), (int(round(1.6 * p)), int(round(0.9 * p))),
                    math.degrees(a), 0, 360, 255, -1, cv2.LINE_8)
    cv2.circle(red, px(fx, fy), int(round(0.8 * p)), 0, -1, cv2.LINE_8)
    cv2.ellipse(red, px(-7.0, -3.5), (int(round(1.6 * p)), int(round(1.0 * p))), -35.0, 0, 360, 255, -1, cv2.LINE_8)
    cv2.line(cobalt, px(-7.0, -2.0), px(-4.0, 3.0), 255, int(round(0.35 * p)), cv2.LINE_8)
    out = {}
    for name, big in (("cobalt", cobalt), ("red", red)):
        m = cv2.resize(big.astype(np.float32) / 255.0, (n, n), interpolation=cv2.INTER_AREA)
        m.setflags(write=False)
        out[name] = m
    return out


def _decal_place(dx: float, dy: float, rot_deg: float) -> np.ndarray:
    """Decal mm -> product mm: turned by ``rot_deg`` about the dish's centre, then shifted."""
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    return np.array([[c, -s, dx], [s, c, dy], [0.0, 0.0, 1.0]])


def _decal_to_mask_px() -> np.ndarray:
    p = _DECAL_PPM
    return np.array([[p, 0.0, -_DECAL_BOX[0] * p - 0.5], [0.0, p, -_DECAL_BOX[1] * p - 0.5], [0.0, 0.0, 1.0]])


class CeramicFamily(Family):
    name = "ceramic"
    product = "dish-celadon-70"
    box_mm = (-37.0, -37.0, 37.0, 37.0)
    outline_mm = [(round(x, 6), round(y, 6)) for x, y in _circle(_R_NOM, 9)[:-1]]
    color_zones = {
        "glaze": {"polygon_mm": _sector(24.0, 28.2, *_COLOR_ANGLES),
                  "target": (62.0, -9.0, 11.0), "golden": (62.3, -8.8, 11.3), "tolerance": 2.0, "weights": (1.0, 1.0, 1.0),
                  "name": "Celadon glaze (demo)"},
    }
    dimensions = {
        "diameter": {"nominal": 70.0, "tol": 0.35, "measure": "diameter",
                     "circle_mm": {"center": (0.0, 0.0), "radius": _R_NOM, "search": 1.2}},
        "band_width": {"nominal": 2.0, "tol": 0.2, "measure": "width", "polarity": "dark_to_light",
                       "caliper_mm": {"center": (_BAND_RC, 0.0), "angle_deg": 0.0, "length": 5.0, "width": 2.0}},
    }
    anomaly_zones = {
        "decal": {"polygon_mm": [(round(x, 4), round(y, 4)) for x, y in _circle(_ZONE_DECAL, 49)[:-1]], "defect_type": "print"},
        "glaze": {"polygon_mm": _annulus(_ZONE_DECAL, _ZONE_RIM), "defect_type": "finish"},
        "rim": {"polygon_mm": _annulus(_ZONE_RIM, _ZONE_OUT), "defect_type": "plating"},
    }
    defect_zone = {"edge_chip": "rim", "thin_band": "rim", "pinholes": "glaze", "decal_shift": "decal"}
    variation = {"decal_dx_mm": (0.0, 0.15), "decal_dy_mm": (0.0, 0.15), "decal_rot_deg": (0.0, 0.4), "gloss": (1.0, 0.2)}
    marker_spot_mm = (-62.0, 0.0)
    ruler_spot_mm = (0.0, 50.0)

    # -- geometry ----------------------------------------------------------------------
    @staticmethod
    def _radius(u: ZooUnit) -> float:
        return u.dim("diameter") / 2.0

    @staticmethod
    def _band(u: ZooUnit) -> tuple[float, float]:
        """Band centre radius and half width (the band's place shrinks with the dish)."""
        return _BAND_RC * u.dim("diameter") / 70.0, u.dim("band_width") / 2.0

    @staticmethod
    def _decal_placements(u: ZooUnit) -> tuple[np.ndarray, np.ndarray]:
        """Decal mm -> product mm: where this unit's decal should lie, and where it lies."""
        dx, dy, rot = u.var("decal_dx_mm"), u.var("decal_dy_mm"), u.var("decal_rot_deg")
        good = _decal_place(dx, dy, rot)
        for d in u.defects:
            if d.kind == "decal_shift":
                return good, _decal_place(dx + d.center_mm[0], dy + d.center_mm[1], rot + d.angle_deg)
        return good, good

    @staticmethod
    def _highlight_center(u: ZooUnit) -> tuple[float, float]:
        """Product mm of the highlight's centre: it stays with the light, not with the dish."""
        hx, hy = _HIGHLIGHT_STATION_MM
        if u.mode == "handheld":  # the light's direction (its gain ramp) moves the reflection
            hx, hy = hx + 40.0 * u.light[0], hy + 40.0 * u.light[1]
        a, dx, dy = u.pose
        c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
        px, py = hx - dx, hy - dy
        return c * px + s * py, -s * px + c * py

    @staticmethod
    def _chip_e(d: ZooDefect, x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
        """Normalised distance of the chip's outline (< 1 inside the missing material) and its scale (mm)."""
        phi = math.radians(d.angle_deg)
        ux, uy = math.cos(phi), math.sin(phi)
        cx, cy = radius * ux, radius * uy
        t = (x - cx) * (-uy) + (y - cy) * ux  # along the outline
        n = (x - cx) * ux + (y - cy) * uy  # outward
        rng = np.random.default_rng([int(d.seed), 83])
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        th = np.arctan2(n, t)
        wobble = 1.0 + 0.12 * np.sin(3 * th + p1) + 0.08 * np.sin(5 * th + p2)
        e = np.hypot(t / (d.length_mm / 2), n / d.width_mm) / wobble
        return e, min(d.length_mm / 2, d.width_mm)

    @staticmethod
    def _pits(d: ZooDefect) -> np.ndarray:
        """Pinhole pits (x, y, r) in product mm."""
        rng = np.random.default_rng([int(d.seed), 89])
        n = int(d.index)
        rad = d.length_mm / 2 * np.sqrt(rng.uniform(0.0, 1.0, n))
        ang = rng.uniform(0, 2 * np.pi, n)
        r = d.width_mm / 2 * rng.uniform(0.8, 1.2, n)
        return np.stack([d.center_mm[0] + rad * np.cos(ang), d.center_mm[1] + rad * np.sin(ang), r], axis=1)

    @staticmethod
    def _thin_missing(d: ZooDefect, x: np.ndarray, y: np.ndarray, rc: float) -> np.ndarray:
        """Fraction of the gold missing (0..0.9) at (x, y): patches under a window along the band."""
        th0 = math.radians(d.angle_deg)
        th = np.arctan2(y, x)
        s = rc * ((th - th0 + np.pi) % (2 * np.pi) - np.pi)  # arc length from the patch's centre
        win = np.where(np.abs(s) < d.length_mm / 2, np.cos(np.pi * s / d.length_mm) ** 2, 0.0)
        rng = np.random.default_rng([int(d.seed), 97])
        k = 8
        bs = rng.uniform(-0.45, 0.45, k) * d.length_mm
        br = rc + rng.uniform(-1.0, 1.0, k)
        sig = rng.uniform(0.5, 1.1, k)
        amp = rng.uniform(0.5, 1.0, k)
        patch = np.full(np.broadcast(x, y).shape, 0.25)
        for bk, rk, sk, ak in zip(bs, br, sig, amp):
            bx = rk * math.cos(th0 + bk / rc)
            by = rk * math.sin(th0 + bk / rc)
            patch = patch + ak * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * sk * sk))
        return np.clip(patch * d.strength, 0.0, 0.9) * win

    # -- defects -----------------------------------------------------------------------
    def make_defect(self, kind: str, rng: np.random.Generator) -> tuple[ZooDefect, str]:
        if kind == "edge_chip":
            # anywhere round the outline but at 3 o'clock, where the band-width caliper looks
            a = float(rng.uniform(25.0, 335.0))
            w, dp = float(rng.uniform(3.0, 6.0)), float(rng.uniform(0.8, 1.6))
            return (ZooDefect(kind, angle_deg=a, length_mm=w, width_mm=dp, seed=int(rng.integers(1 << 30))),
                    f"edge chip {w:.1f} mm long, {dp:.1f} mm deep at {a:.0f} deg")
        if kind == "pinholes":
            # in the glazed well round the decal
            a = float(rng.uniform(0.0, 360.0))
            r = float(rng.uniform(18.8, 20.7))
            size = float(rng.uniform(1.6, 3.0))
            n = int(rng.integers(5, 10))
            dot = float(rng.uniform(0.35, 0.55))
            dl = float(rng.uniform(-30.0, -20.0))
            c = (r * math.cos(math.radians(a)), r * math.sin(math.radians(a)))
            return (ZooDefect(kind, center_mm=c, length_mm=size, width_mm=dot, strength=dl, index=n,
                              seed=int(rng.integers(1 << 30))),
                    f"{n} glaze pinholes Ø {dot:.2f} mm within {size:.1f} mm, ΔL* {dl:.0f}")
        if kind == "decal_shift":
            # off the dish's centre: a decal turned about the centre of a plain round dish could not
            # be told from the dish turned, so the defect is a shift (the outline pins the centre)
            m, a = float(rng.uniform(1.0, 2.0)), float(rng.uniform(0, 2 * np.pi))
            return (ZooDefect(kind, center_mm=(m * math.cos(a), m * math.sin(a)), strength=m),
                    f"decal shifted {m:.2f} mm")
        if kind == "thin_band":
            a = float(rng.uniform(25.0, 335.0))
            ln = float(rng.uniform(6.0, 10.0))
            return (ZooDefect(kind, angle_deg=a, length_mm=ln, strength=float(rng.uniform(0.7, 1.0)), seed=int(rng.integers(1 << 30))),
                    f"thin / patchy gold over {ln:.1f} mm of the rim band")
        raise ValueError(kind)

    def defect_footprint(self, d: ZooDefect, unit: ZooUnit) -> tuple[tuple[float, float, float, float], float]:
        self.check_defect(d)
        radius = self._radius(unit)
        if d.kind == "edge_chip":
            phi = math.radians(d.angle_deg)
            cx, cy = radius * math.cos(phi), radius * math.sin(phi)
            ext = d.length_mm / 2 * 1.25 + 0.6
            xs = np.arange(cx - ext, cx + ext, _GRID) + _GRID / 2
            ys = np.arange(cy - ext, cy + ext, _GRID) + _GRID / 2
            X, Y = xs[None, :], ys[:, None]
            e, scale = self._chip_e(d, X, Y, radius)
            on = np.hypot(X, Y) < radius
            gone = (e < 1.0) & on
            touched = (e < 1.0 + 0.55 / scale) & (np.hypot(X, Y) < radius + 0.1)
            rows, cols = np.nonzero(touched)
            box = (float(xs[cols.min()] - _GRID), float(ys[rows.min()] - _GRID), float(xs[cols.max()] + _GRID),
                   float(ys[rows.max()] + _GRID))
            return box, float(gone.sum() * _GRID * _GRID)
        if d.kind == "pinholes":
            p = self._pits(d)
            m = p[:, 2] + 0.12
            box = (float((p[:, 0] - m).min()), float((p[:, 1] - m).min()), float((p[:, 0] + m).max()), float((p[:, 1] + m).max()))
            xs = np.arange(box[0], box[2], _GRID) + _GRID / 2
            ys = np.arange(box[1], box[3], _GRID) + _GRID / 2
            inside = np.min([np.hypot(xs[None, :] - x, ys[:, None] - y) - r for x, y, r in p], axis=0) < 0
            return box, float(inside.sum() * _GRID * _GRID)
        if d.kind == "decal_shift":
            good, bad = self._decal_placements(_with_defects(unit, (d,)))
            boxes = [_placed_mask_box(good), _placed_mask_box(bad)]
            box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
            return box, _displaced_ink_mm2(good, bad)
        # thin band: the window's annular sector
        rc, hw = self._band(unit)
        th0, half = math.radians(d.angle_deg), d.length_mm / 2 / rc
        th = np.linspace(th0 - half, th0 + half, 200)
        rr = np.array([rc - hw - 0.12, rc + hw + 0.12])
        xs = (rr[:, None] * np.cos(th)[None, :]).ravel()
        ys = (rr[:, None] * np.sin(th)[None, :]).ravel()
        box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        gx = np.arange(box[0], box[2], _GRID) + _GRID / 2
        gy = np.arange(box[1], box[3], _GRID) + _GRID / 2
        X, Y = gx[None, :], gy[:, None]
        band = np.abs(np.hypot(X, Y) - rc) < hw
        return box, float((self._thin_missing(d, X, Y, rc) * band).sum() * _GRID * _GRID)

    # -- painting ----------------------------------------------------------------------
    def paint(self, u: ZooUnit, cv: _Canvas) -> None:
        for d in u.defects:
            self.check_defect(d)
        glaze = u.lab("glaze")
        radius = self._radius(u)
        defects = {d.kind: d for d in u.defects}
        rng = np.random.default_rng([int(u.texture_seed), 71])
        rs, cs, X, Y = cv.roi((-radius - 0.5, -radius - 0.5, radius + 0.5, radius + 0.5))
        rho = np.hypot(X, Y)
        inside = rho < radius - _EDGE_MM
        fine = _noise_field(rng, (cv.h, cv.w), 0.5 / cv.t)[rs, cs]
        coarse = _noise_field(rng, (cv.h, cv.w), 5.0 / cv.t)[rs, cs]
        fine = (fine - fine[inside].mean()) / max(float(fine[inside].std()), 1e-6) * 0.4
        coarse = (coarse - coarse[inside].mean()) / max(float(coarse[inside].std()), 1e-6) * 0.12
        l_f = glaze[0] + fine + coarse
        # the well's slope, and the rolled edge (lit from the top left)
        l_f = l_f - 1.5 * np.exp(-((rho - _WELL_R) / 0.8) ** 2)
        edge = np.clip((rho - (radius - _EDGE_MM)) / _EDGE_MM, 0.0, 1.0)
        l_f = l_f + edge * (-3.0 + 2.0 * (-(X + Y) / np.maximum(rho, 1e-3) / math.sqrt(2.0)))
        # kiln-dust speckle: sparse iron specks, new on every unit
        n_speck = int(rng.poisson(_SPECK_PER_MM2 * math.pi * radius**2))
        sr = (radius - 1.0) * np.sqrt(rng.uniform(0.0, 1.0, n_speck))
        sa = rng.uniform(0, 2 * np.pi, n_speck)
        srad = rng.uniform(0.06, 0.15, n_speck)
        sdl = rng.uniform(-12.0, -5.0, n_speck)
        for r0, a0, rr, dl in zip(sr, sa, srad, sdl):
            self._dot(l_f, X, Y, r0 * math.cos(a0), r0 * math.sin(a0), rr, dl, cv.t)
        if "pinholes" in defects:
            d = defects["pinholes"]
            for x, y, r in self._pits(d):
                self._dot(l_f, X, Y, x, y, r, d.strength, min(cv.t, 0.1))
        cov = cv.coverage_from_sdf(rho - radius)
        rgb = _rgb_from_l(np.clip(l_f, glaze[0] - 40, glaze[0] + 15), glaze, glaze[0] - 40, glaze[0] + 15)
        if "edge_chip" in defects:
            d = defects["edge_chip"]
            e, scale = self._chip_e(d, X, Y, radius)
            gone = np.clip(0.5 - (e - 1.0) * scale / cv.t, 0.0, 1.0)
            face = np.clip(0.5 - (e - 1.0 - 0.4 / scale) * scale / cv.t, 0.0, 1.0) * (1.0 - gone)
            rgb = rgb * (1.0 - face[..., None]) + lab_to_linear_srgb(_LAB_BISCUIT).astype(np.float32) * face[..., None]
            cov = cov * (1.0 - gone)
        cv.paint(rs, cs, cov.astype(np.float32), rgb.astype(np.float32))
        # the gold band
        rc, hw = self._band(u)
        bcov = np.clip(0.5 - (np.abs(rho - rc) - hw) / cv.t, 0.0, 1.0)
        if "thin_band" in defects:
            bcov = bcov * (1.0 - self._thin_missing(defects["thin_band"], X, Y, rc))
        sheen = 1.5 * np.cos(np.arctan2(Y, X) + math.radians(135.0))
        gold = _rgb_from_l(_LAB_GOLD[0] + sheen, _LAB_GOLD, _LAB_GOLD[0] - 3, _LAB_GOLD[0] + 3)
        cv.paint(rs, cs, (bcov * cov).astype(np.float32), gold)
        # the decal (fired on: under the glaze's gloss)
        _, placed = self._decal_placements(u)
        masks = _decal_masks()
        for name, lab in (("cobalt", _LAB_COBALT), ("red", _LAB_IRON_RED)):
            _paint_placed(cv, masks[name], placed, lab_to_linear_srgb(lab))
        # the glaze's gloss: a soft white reflection of the light, on the material that is there
        assert cv.alpha is not None  # zoo textures are painted on an alpha canvas
        hx, hy = self._highlight_center(u)
        hl = np.exp(-((X - hx) ** 2 + (Y - hy) ** 2) / (2 * _HIGHLIGHT_SIGMA**2)) * (_HIGHLIGHT_LINEAR * u.var("gloss"))
        cv.rgb[rs, cs] += (hl * cv.alpha[rs, cs])[..., None].astype(np.float32)

    @staticmethod
    def _dot(l_f: np.ndarray, X: np.ndarray, Y: np.ndarray, x: float, y: float, r: float, dl: float, soft: float) -> None:
        """Darken a round dot (radius ``r`` mm, soft rim ``soft`` mm) of the L* field in place."""
        t = float(X[0, 1] - X[0, 0]) if X.shape[1] > 1 else soft
        c0 = int(max(0, math.floor((x - r - 2 * soft - X[0, 0]) / t)))
        c1 = int(min(X.shape[1], math.ceil((x + r + 2 * soft - X[0, 0]) / t) + 1))
        r0 = int(max(0, math.floor((y - r - 2 * soft - Y[0, 0]) / t)))
        r1 = int(min(Y.shape[0], math.ceil((y + r + 2 * soft - Y[0, 0]) / t) + 1))
        if c1 <= c0 or r1 <= r0:
            return
        d = np.hypot(X[:, c0:c1] - x, Y[r0:r1] - y) - r
        l_f[r0:r1, c0:c1] += dl * np.clip(0.5 - d / soft, 0.0, 1.0)


def _with_defects(u: ZooUnit, defects: tuple[ZooDefect, ...]) -> ZooUnit:
    return replace(u, defects=defects)


def _mask_points_mm(name: str) -> np.ndarray:
    """Decal mm of the corners of every mask pixel with ink (for exact placed bounding boxes)."""
    m = _decal_masks()[name]
    rows, cols = np.nonzero(m > 0.02)
    p = _DECAL_PPM
    pts = []
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        pts.append(np.stack([_DECAL_BOX[0] + (cols + dc) / p, _DECAL_BOX[1] + (rows + dr) / p], axis=1))
    return np.concatenate(pts)


@functools.lru_cache(maxsize=1)
def _all_ink_points() -> np.ndarray:
    pts = np.concatenate([_mask_points_mm("cobalt"), _mask_points_mm("red")])
    # the hull holds every extreme point of the placed ink under any rotation and shift
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    hull.setflags(write=False)
    return hull


def _placed_mask_box(place: np.ndarray) -> tuple[float, float, float, float]:
    pts = _all_ink_points() @ place[:2, :2].T + place[:2, 2]
    m = 0.12  # the texel box filter and the coverage ramp
    return float(pts[:, 0].min() - m), float(pts[:, 1].min() - m), float(pts[:, 0].max() + m), float(pts[:, 1].max() + m)


def _displaced_ink_mm2(good: np.ndarray, bad: np.ndarray) -> float:
    """Area (mm²) where the decal's ink differs between its right and its actual place."""
    total = 0.0
    pad = int(4 * _DECAL_PPM)  # room for the moved ink
    to_px = np.array([[1.0, 0.0, pad], [0.0, 1.0, pad], [0.0, 0.0, 1.0]]) @ _decal_to_mask_px()
    rel = to_px @ np.linalg.inv(bad) @ good @ np.linalg.inv(to_px)  # (padded) mask px of the actual decal -> of the right one
    for m in _decal_masks().values():
        mp = np.pad(m, pad)
        h, w = mp.shape
        moved = cv2.warpAffine(mp, rel[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        total += float(np.abs(mp - moved).sum())
    return total / _DECAL_PPM**2


def _paint_placed(cv: _Canvas, mask: np.ndarray, place: np.ndarray, rgb: np.ndarray) -> None:
    """Paint ``rgb`` with the coverage of a decal mask placed by ``place`` (decal mm -> product mm)."""
    corners = np.array([[_DECAL_BOX[0], _DECAL_BOX[1]], [_DECAL_BOX[2], _DECAL_BOX[1]], [_DECAL_BOX[2], _DECAL_BOX[3]],
                        [_DECAL_BOX[0], _DECAL_BOX[3]]])
    pc = corners @ place[:2, :2].T + place[:2, 2]
    rs, cs, _, _ = cv.roi((float(pc[:, 0].min()), float(pc[:, 1].min()), float(pc[:, 0].max()), float(pc[:, 1].max())))
    if rs.stop <= rs.start or cs.stop <= cs.start:
        return
    tex = np.array([[cv.t, 0, cv.x0 + (cs.start + 0.5) * cv.t], [0, cv.t, cv.y0 + (rs.start + 0.5) * cv.t], [0, 0, 1.0]])
    paint_coverage(cv, rs, cs, mask, _decal_to_mask_px() @ np.linalg.inv(place) @ tex, _DECAL_PPM, rgb)
