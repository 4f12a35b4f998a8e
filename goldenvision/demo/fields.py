"""Variant fields of a unit, pure maths in product mm: bend of soft goods, blotchy dye, plating shading."""

from __future__ import annotations

import functools
import math
from typing import Any, cast

import numpy as np

from ..errors import SpecError
from .scene import (
    _BUCKLE_CENTER_MM,
    _BUCKLE_W_X_MM,
    _LAB_METAL,
    _PANEL_H_MM,
    _SEAM_N,
    _SEAM_PITCH_MM,
    _SEAM_Y_MM,
    _STITCH_LEN_MM,
    _TEX_BOX_MM,
    COLOR_ZONES,
    UnitParams,
    _shift_to_de,
)

# --------------------------------------------------------------------------------------
# Variants (issues 3 and 4): bent soft goods, blotchy dye lot, plated colour zone
# --------------------------------------------------------------------------------------
#: Seam line (product mm) and the x extent of its stitches.
SEAM_Y_MM = _SEAM_Y_MM
_BEND_HALF_W_MM = 55.0  # half the nominal panel width: the bend's length scale along x
_BEND_HALF_H_MM = _PANEL_H_MM / 2.0


def _plating_l(u: np.ndarray) -> np.ndarray:
    """Diffuse L* of the nominal plating across the buckle, ``u`` = (x - centre) / half width."""
    return 64.0 + 12.0 * np.cos(np.pi * 0.5 * u) - 6.0 * u


def bend_displacement_mm(bend: "tuple[float, float, float]", points_product_mm: Any) -> np.ndarray:
    """In-plane displacement (product mm) of material points of a bent unit.

    A material point ``P = (x, y)`` of the flat product lies at ``P + D(P)`` (product mm) in
    the photo of a bent unit, then goes through the unit's pose and camera as usual::

        D_x = shear * sin(pi * y / 68)
        D_y = sag * (1 - (x / 55)^2) + s * sin(2 pi x / 110)

    i.e. a sag (bow of the panel along its width, centre ``sag`` mm down relative to the ends),
    an S-bend (one period over the panel width, ``±s`` mm) and a lateral S (the short edges
    bowing by ``±shear`` mm). With amplitudes <= 2 mm the field's gradient stays < 0.12 (the
    map is a smooth diffeomorphism; its inverse is found by fixed-point iteration).

    Parameters
    ----------
    bend : (sag_mm, s_mm, shear_mm)
    points_product_mm : array_like, shape (N, 2) or (..., 2)

    Returns
    -------
    ndarray, same shape as ``points_product_mm``, float64
    """
    sag, s_amp, shear = (float(v) for v in bend)
    pts = np.asarray(points_product_mm, np.float64)
    x, y = pts[..., 0], pts[..., 1]
    d = np.empty_like(pts)
    d[..., 0] = shear * np.sin(np.pi * y / (2 * _BEND_HALF_H_MM))
    d[..., 1] = sag * (1.0 - (x / _BEND_HALF_W_MM) ** 2) + s_amp * np.sin(np.pi * x / _BEND_HALF_W_MM)
    return d


def _bend_bound_mm(bend: "tuple[float, float, float]") -> float:
    """Upper bound of |D| over the product texture box."""
    sag, s_amp, shear = (abs(float(v)) for v in bend)
    xmax = max(abs(_TEX_BOX_MM[0]), abs(_TEX_BOX_MM[2]))
    return math.hypot(shear, sag * max(1.0, (xmax / _BEND_HALF_W_MM) ** 2 - 1.0) + s_amp)


def _unbend(bend: "tuple[float, float, float]", q: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Material points P with ``P + D(P) = q`` (fixed point; contraction factor < 0.12)."""
    p = q.copy()
    for _ in range(iterations):
        p = q - bend_displacement_mm(bend, p)
    return p


def seam_points_mm(n: int = 57) -> np.ndarray:
    """``n`` points (product mm) evenly along the stitched seam, first to last stitch end."""
    half = (_SEAM_N - 1) / 2.0 * _SEAM_PITCH_MM + _STITCH_LEN_MM / 2
    return np.stack([np.linspace(-half, half, int(n)), np.full(int(n), _SEAM_Y_MM)], axis=1)


# --- blotchy dye ----------------------------------------------------------------------
_BLOTCH_TERMS = 10
_BLOTCH_GRID_MM = 0.05


def _blotch_raw(cell_mm: float, seed: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum of random plane waves with half-wavelengths ~ ``cell_mm`` (blotch size)."""
    rng = np.random.default_rng([int(seed), 97])
    out = np.zeros(np.broadcast(x, y).shape, np.float64)
    for _ in range(_BLOTCH_TERMS):
        k = np.pi / (float(cell_mm) * rng.uniform(0.7, 1.3))
        th = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        out += np.cos(k * (np.cos(th) * x + np.sin(th) * y) + ph)
    return out


@functools.lru_cache(maxsize=32)
def _blotch_norm(cell_mm: float, seed: int, peak_de00: float, panel_lab: tuple[float, float, float]) -> tuple[float, float]:
    """(offset, gain): ``gain * (raw - offset)`` has zero mean over the panel colour zone (area,
    on a 0.05 mm grid) and its largest |value| there shifts the chroma by ``peak_de00``."""
    xs = _zone_grid(COLOR_ZONES["panel"]["polygon_mm"])
    raw = _blotch_raw(cell_mm, seed, xs[0], xs[1])
    off = float(raw.mean())
    amp = float(np.abs(raw - off).max())
    base = np.asarray(panel_lab, np.float64)
    direction = _chroma_direction(panel_lab)
    k = float(np.linalg.norm(_shift_to_de(base, direction, float(peak_de00), base, COLOR_ZONES["panel"]["weights"]) - base))
    return off, k / amp


def _zone_grid(poly: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a 0.05 mm grid over an axis-aligned rectangular zone (product mm)."""
    arr = np.asarray(poly, np.float64)
    (x1, y1), (x2, y2) = arr.min(axis=0), arr.max(axis=0)
    g = _BLOTCH_GRID_MM
    xs = x1 + (np.arange(int(round((x2 - x1) / g))) + 0.5) * g
    ys = y1 + (np.arange(int(round((y2 - y1) / g))) + 0.5) * g
    return xs[None, :], ys[:, None]


def _chroma_direction(lab: Any) -> np.ndarray:
    lab = np.asarray(lab, np.float64)
    c = math.hypot(lab[1], lab[2])
    return np.array([0.0, lab[1] / c, lab[2] / c]) if c > 1e-6 else np.array([0.0, 0.0, 1.0])


def _blotch_direction(p: UnitParams) -> np.ndarray:
    return _chroma_direction(p.panel_lab)


def blotch_field(params: UnitParams, x_mm: Any, y_mm: Any) -> np.ndarray:
    """Chroma offset (CIELAB units along the panel's chroma direction) of a blotchy dye lot.

    ``params.blotch = (peak_de00, cell_mm, seed)``: a sum of ten random plane waves with
    half-wavelengths 0.7-1.3 x ``cell_mm``, shifted to zero mean over the panel colour zone
    (so the zone's mean Lab stays ``params.panel_lab``) and scaled so that its largest |value|
    in the zone is ``peak_de00`` ΔE00 (zone weights) from ``panel_lab``. The panel's Lab is
    ``panel_lab + blotch_field * (0, a*, b*) / C*`` (grain in L* on top, as for any unit).

    Returns float64 of the broadcast shape of ``x_mm``, ``y_mm`` (zeros when ``peak_de00`` is 0).
    """
    peak, cell, seed = float(params.blotch[0]), float(params.blotch[1]), int(params.blotch[2])
    x, y = np.asarray(x_mm, np.float64), np.asarray(y_mm, np.float64)
    if peak <= 0:
        return np.zeros(np.broadcast(x, y).shape)
    if not (1.0 <= cell <= 50.0):
        raise SpecError(f"UnitParams.blotch cell_mm: expected 1-50 mm, got {cell!r}")
    off, gain = _blotch_norm(cell, seed, peak, tuple(float(v) for v in params.panel_lab))
    return gain * (_blotch_raw(cell, seed, x, y) - off)


# --- plated zone ----------------------------------------------------------------------
#: A colour zone on the plated buckle (product mm): above the slot, across the specular band.
PLATED_ZONE: dict[str, Any] = {
    "polygon_mm": [(33.0, -14.5), (47.0, -14.5), (47.0, -10.5), (33.0, -10.5)],
    "tolerance": 1.5,
    "weights": (1.0, 1.0, 1.0),
    "name": "Nickel plating (demo)",
}


def plated_zone_truth_lab(metal_lab: "tuple[float, float, float]" = _LAB_METAL) -> tuple[float, float, float]:
    """True colour of the plated zone: the area mean of the plating's *diffuse* CIELAB.

    The buckle renders as L* = ``_plating_l(u) + (metal L* - 66)`` (a cylindrical shading
    gradient across its x extent, ``u`` = (x - 40 mm) / 9 mm) with the metal's a*, b*, plus a
    specular band added in linear light (a Gaussian, sigma 0.6 mm, at x = 36.85 mm). The zone's
    truth excludes the highlight: it is the mean of the diffuse L* over the zone's area (exact
    closed form over the zone's x range) and the metal's a*, b*, i.e. what a spectrophotometer
    with a specular-excluded geometry would average over the zone.
    """
    bx, bw = _BUCKLE_CENTER_MM[0], _BUCKLE_W_X_MM / 2.0
    xs = [v[0] for v in PLATED_ZONE["polygon_mm"]]
    u1, u2 = (min(xs) - bx) / bw, (max(xs) - bx) / bw
    mean_l = 64.0 + 12.0 * (2.0 / np.pi) * (math.sin(np.pi * u2 / 2) - math.sin(np.pi * u1 / 2)) / (u2 - u1) - 3.0 * (u1 + u2)
    return (float(mean_l + (metal_lab[0] - _LAB_METAL[0])), float(metal_lab[1]), float(metal_lab[2]))


def zone_truth_lab(params: UnitParams) -> dict[str, tuple[float, float, float]]:
    """True zone colours (CIELAB D65) of a unit: ``panel`` and ``logo`` (their recorded Lab,
    also for a blotchy panel, whose field is zero-mean over the zone) and ``buckle`` (the plated
    zone, :func:`plated_zone_truth_lab`)."""
    return {
        "panel": cast("tuple[float, float, float]", tuple(float(v) for v in params.panel_lab)),
        "logo": cast("tuple[float, float, float]", tuple(float(v) for v in params.logo_lab)),
        "buckle": plated_zone_truth_lab(params.metal_lab),
    }
