"""Colour stage: CIEDE2000 per zone against the spec target and the sealed golden.

Everything here works on CIELAB D65 arrays (``float``, L* in [0, 100], a*, b* roughly in
[-128, 128]) in the **golden frame** (golden px). The stage never reads images; the Lab
images come from ``ColorCorrection.to_lab`` (``goldenvision/calibration/color.py``) after
registration. Only the colour-library and CGATS readers accept a path, as a convenience for
the layers above.

Contents
--------
* :func:`delta_e_2000`, :func:`delta_e_2000_components`, :func:`delta_e_1976`, the
  :data:`DELTA_E` registry and :func:`delta_e`.
* :func:`zone_mask`, :class:`ZoneColorModel` (golden-side state fitted at seal time),
  :func:`robust_zone_color`, :func:`measure_zone_colors`, :func:`zone_delta_e_map`.
* :func:`adapt_lab`, :func:`load_color_library`, :func:`read_cgats`, :func:`read_cxf`, :class:`SpectralSample`,
  :func:`spectral_to_lab`, :func:`metamerism_index`.

References
----------
.. [Sharma2005] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula:
   Implementation notes, supplementary test data, and mathematical observations",
   Color Res. Appl. 30(1), 21-30 (2005), doi:10.1002/col.20070.
.. [CIE142] CIE 142:2001, Improvement to industrial colour-difference evaluation.
.. [CIE15] CIE 15:2004, Colorimetry, 3rd ed. (CIELAB §8.2.1; special metamerism index
   for a change in illuminant, with the multiplicative correction, after CIE 80 / CIE 51).
.. [Leys2013] C. Leys et al., "Detecting outliers: Do not use standard deviation around the
   mean, use absolute deviation around the median", J. Exp. Soc. Psychol. 49(4), 764-766
   (2013), doi:10.1016/j.jesp.2013.03.013 (median ± k·1.4826·MAD, the Hampel identifier).
.. [Lam1985] K. M. Lam, "Metamerism and colour constancy", PhD thesis, Univ. of Bradford
   (1985): the Bradford chromatic-adaptation transform (linearised form as in ICC.1 Annex E).
.. [CGATS17] ANSI CGATS.17-2009, Graphic technology - Exchange format for colour and
   process control data using XML or ASCII text.
"""

from __future__ import annotations

import csv
import functools
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import cv2
import numpy as np

from .errors import ImageError, ModelError, SpecError
from .results import ColorResult
from .spec import ColorZone
from .zones import zone_mask

__all__ = [
    "delta_e_2000",
    "delta_e_2000_components",
    "delta_e_1976",
    "DELTA_E",
    "delta_e",
    "zone_mask",
    "robust_zone_color",
    "RobustZoneColor",
    "ZoneColorModel",
    "measure_zone_colors",
    "zone_delta_e_map",
    "adapt_lab",
    "target_lab_d65",
    "load_color_library",
    "SpectralSample",
    "read_cgats",
    "read_cxf",
    "spectral_to_lab",
    "MetamerismIndex",
    "metamerism_index",
]

# ---------------------------------------------------------------------------------------
# Colour differences
# ---------------------------------------------------------------------------------------

_25_POW_7 = 25.0**7


def _as_lab(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ImageError(f"{name}: expected CIELAB values of shape (..., 3), got shape {arr.shape}")
    return arr


def _scalar_or_array(x: np.ndarray) -> "np.ndarray | float":
    return float(x) if x.ndim == 0 else x


def _ciede2000_terms(
    lab1: np.ndarray, lab2: np.ndarray, kL: float, kC: float, kH: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIEDE2000 weighted terms of colour 2 relative to colour 1 (Sharma 2005, eqs. 1-22).

    Returns ``(ΔL'/(kL SL), ΔC'/(kC SC), ΔH'/(kH SH), RT)`` with ``Δ = 2 - 1``.
    """
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    # (2)-(7): C*, mean C*, G, a', C', h'
    C1_ab = np.hypot(a1, b1)
    C2_ab = np.hypot(a2, b2)
    C_ab_bar7 = ((C1_ab + C2_ab) / 2.0) ** 7
    G = 0.5 * (1.0 - np.sqrt(C_ab_bar7 / (C_ab_bar7 + _25_POW_7)))
    a1_p = (1.0 + G) * a1
    a2_p = (1.0 + G) * a2
    C1_p = np.hypot(a1_p, b1)
    C2_p = np.hypot(a2_p, b2)
    # h' = atan2(b, a') in [0, 360); h' = 0 when a' = b = 0 (np.arctan2(0, 0) == 0).
    h1_p = np.degrees(np.arctan2(b1, a1_p)) % 360.0
    h2_p = np.degrees(np.arctan2(b2, a2_p)) % 360.0

    # (8)-(11): ΔL', ΔC', Δh', ΔH'
    dL_p = L2 - L1
    dC_p = C2_p - C1_p
    C1C2 = C1_p * C2_p
    zero_chroma = C1C2 == 0.0
    dh = h2_p - h1_p
    dh_p = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh_p = np.where(zero_chroma, 0.0, dh_p)
    dH_p = 2.0 * np.sqrt(C1C2) * np.sin(np.radians(dh_p) / 2.0)

    # (12)-(14): means L', C', h' (h' mean: sum when C1'C2' = 0; ±360 wrap otherwise)
    L_bar_p = (L1 + L2) / 2.0
    C_bar_p = (C1_p + C2_p) / 2.0
    h_sum = h1_p + h2_p
    h_bar_p = np.where(
        np.abs(h1_p - h2_p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_bar_p = np.where(zero_chroma, h_sum, h_bar_p)

    # (15)-(21): T, Δθ, RC, SL, SC, SH, RT
    T = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar_p - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar_p))
        + 0.32 * np.cos(np.radians(3.0 * h_bar_p + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar_p - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar_p - 275.0) / 25.0) ** 2))
    C_bar_p7 = C_bar_p**7
    R_C = 2.0 * np.sqrt(C_bar_p7 / (C_bar_p7 + _25_POW_7))
    L50 = (L_bar_p - 50.0) ** 2
    S_L = 1.0 + 0.015 * L50 / np.sqrt(20.0 + L50)
    S_C = 1.0 + 0.045 * C_bar_p
    S_H = 1.0 + 0.015 * C_bar_p * T
    R_T = -np.sin(np.radians(2.0 * d_theta)) * R_C

    return dL_p / (kL * S_L), dC_p / (kC * S_C), dH_p / (kH * S_H), R_T


def _check_weights(kL: float, kC: float, kH: float) -> None:
    for nm, k in (("kL", kL), ("kC", kC), ("kH", kH)):
        if not (isinstance(k, (int, float, np.floating, np.integer)) and math.isfinite(float(k)) and k > 0):
            raise SpecError(f"{nm}: expected a finite number > 0, got {k!r}")


def delta_e_2000(lab1: Any, lab2: Any, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> "np.ndarray | float":
    """CIEDE2000 colour difference ΔE00 [CIE142]_, implemented as in Sharma et al. [Sharma2005]_.

    Parameters
    ----------
    lab1, lab2 : array_like, shape (..., 3)
        CIELAB L*, a*, b* (same white point for both; D65 in goldenvision). Any shapes that
        broadcast together; computed in float64.
    kL, kC, kH : float, optional
        Parametric weighting factors (> 0); e.g. kL = 2 for textiles.

    Returns
    -------
    float or ndarray, shape broadcast(lab1, lab2)[:-1], float64
        ΔE00; a Python float when both inputs are single colours.

    Notes
    -----
    The symbols follow eqs. (1)-(22) of [Sharma2005]_, including the implementation notes:
    h' = 0 when a' = b = 0; Δh' = 0 and mean h' = h1' + h2' when C1' C2' = 0; the mean hue
    takes the ±360° branch when ``|h1' - h2'| > 180°``. The result is symmetric in its
    arguments and matches the 34 test pairs of [Sharma2005]_ to 1e-4.
    """
    _check_weights(kL, kC, kH)
    l1 = _as_lab(lab1, "lab1")
    l2 = _as_lab(lab2, "lab2")
    dl, dc, dh, rt = _ciede2000_terms(l1, l2, float(kL), float(kC), float(kH))
    de = np.sqrt(np.maximum(dl * dl + dc * dc + dh * dh + rt * dc * dh, 0.0))
    return _scalar_or_array(de)


def delta_e_2000_components(
    lab_sample: Any, lab_reference: Any, *, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0
) -> "tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float, np.ndarray | float]":
    """ΔE00 and its signed weighted components of a sample relative to a reference.

    Parameters
    ----------
    lab_sample, lab_reference : array_like, shape (..., 3)
        CIELAB of the sample (unit) and of the reference (target or golden); broadcastable.
    kL, kC, kH : float, optional
        Parametric weighting factors (> 0).

    Returns
    -------
    dE, dL, dC, dH : float or ndarray, float64
        ``dE`` = ΔE00; ``dL = ΔL'/(kL SL)``, ``dC = ΔC'/(kC SC)``, ``dH = ΔH'/(kH SH)`` with
        ``Δ = sample - reference`` ([Sharma2005]_ eqs. 8-11, 22), so that
        ``dE**2 == dL**2 + dC**2 + dH**2 + RT*dC*dH``. ``dL < 0`` reads "darker",
        ``dC < 0`` "duller".
    """
    _check_weights(kL, kC, kH)
    ref = _as_lab(lab_reference, "lab_reference")
    smp = _as_lab(lab_sample, "lab_sample")
    dl, dc, dh, rt = _ciede2000_terms(ref, smp, float(kL), float(kC), float(kH))
    de = np.sqrt(np.maximum(dl * dl + dc * dc + dh * dh + rt * dc * dh, 0.0))
    return _scalar_or_array(de), _scalar_or_array(dl), _scalar_or_array(dc), _scalar_or_array(dh)


def delta_e_1976(lab1: Any, lab2: Any) -> "np.ndarray | float":
    """CIE 1976 colour difference ΔE*ab: Euclidean distance in CIELAB [CIE15]_.

    Parameters
    ----------
    lab1, lab2 : array_like, shape (..., 3)
        CIELAB values, broadcastable.

    Returns
    -------
    float or ndarray, float64
    """
    l1 = _as_lab(lab1, "lab1")
    l2 = _as_lab(lab2, "lab2")
    return _scalar_or_array(np.sqrt(np.sum((l1 - l2) ** 2, axis=-1)))


#: Colour-difference methods by name (each an explicit function of two Lab arrays).
DELTA_E: dict[str, Callable[[Any, Any], "np.ndarray | float"]] = {
    "cie76": delta_e_1976,
    "ciede2000": delta_e_2000,
}


def delta_e(lab_a: Any, lab_b: Any, *, method: str = "ciede2000") -> "np.ndarray | float":
    """Colour difference by method name (see :data:`DELTA_E`).

    Raises
    ------
    SpecError
        ``method`` is not a key of :data:`DELTA_E`.
    """
    fn = DELTA_E.get(method) if isinstance(method, str) else None
    if fn is None:
        raise SpecError(f"method={method!r}; expected one of {sorted(DELTA_E)}")
    return fn(lab_a, lab_b)


# ---------------------------------------------------------------------------------------
# Zones and robust zone colour
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RobustZoneColor:
    """Robust colour of one zone in one image.

    Attributes
    ----------
    lab : ndarray, shape (3,), float64
        Trimmed mean CIELAB D65 of the kept pixels (NaN when none is kept).
    valid_fraction : float
        Kept pixels / zone pixels, in [0, 1].
    uniformity_de00 : float or None
        95th percentile ΔE00 of cell means from ``lab`` (None when no cell is usable).
    n_cells : int
        Cells that entered the uniformity figure.
    """

    lab: np.ndarray
    valid_fraction: float
    uniformity_de00: float | None
    n_cells: int


@dataclass(frozen=True, slots=True)
class _ZoneGeometry:
    name: str
    y0: int
    y1: int
    x0: int
    x1: int
    mask: np.ndarray  # bool (y1-y0, x1-x0): zone within its bounding box
    n_px: int
    cell_ok: np.ndarray  # bool (ny, nx): cell has >= half its area inside the zone
    cell_zone_px: np.ndarray  # float32 (ny, nx): zone px per cell


def _geometry(name: str, mask_full: np.ndarray, cell_px: int) -> _ZoneGeometry:
    ys = np.flatnonzero(mask_full.any(axis=1))
    xs = np.flatnonzero(mask_full.any(axis=0))
    if ys.size == 0:
        raise SpecError(
            f"colors[{name!r}].region: expected a polygon overlapping the golden image "
            f"({mask_full.shape[1]}x{mask_full.shape[0]} px), got an empty zone"
        )
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    mask = np.ascontiguousarray(mask_full[y0:y1, x0:x1])
    ny, nx = (y1 - y0) // cell_px, (x1 - x0) // cell_px
    if ny > 0 and nx > 0:
        m = mask[: ny * cell_px, : nx * cell_px].reshape(ny, cell_px, nx, cell_px)
        per_cell = m.sum(axis=(1, 3)).astype(np.float32)
    else:
        per_cell = np.zeros((max(ny, 0), max(nx, 0)), np.float32)
    return _ZoneGeometry(name, y0, y1, x0, x1, mask, int(mask.sum()), per_cell >= 0.5 * cell_px * cell_px, per_cell)


#: Hampel-identifier cut-off (robust standard scores) used to reject pixels, see [Leys2013]_.
OUTLIER_K = 3.5
#: Floor of the per-channel robust scale, in CIELAB units (keeps flat zones from rejecting noise).
SCALE_FLOOR_LAB = 0.5
_MAD_TO_SIGMA = 1.4826
_MEDIAN_SAMPLE = 10_000


def _robust_color(
    sub: np.ndarray, region_ok: np.ndarray, geom: _ZoneGeometry, cell_px: int, weights: tuple[float, float, float]
) -> RobustZoneColor:
    """Core of :func:`robust_zone_color` on a bounding-box crop (see its docstring)."""
    n_zone = geom.n_px
    # 1. Median and MAD per channel on a regular subsample of the zone (exact for small zones).
    area = sub.shape[0] * sub.shape[1]
    step = max(1, int(math.sqrt(area / _MEDIAN_SAMPLE)))
    sample = sub[::step, ::step][region_ok[::step, ::step]]
    sample = sample[np.isfinite(sample).all(axis=1)]
    nan3 = np.full(3, np.nan)
    if sample.shape[0] == 0:
        return RobustZoneColor(nan3, 0.0, None, 0)
    sample_t = np.ascontiguousarray(sample.T)  # (3, n): contiguous rows for the partitions
    med = np.median(sample_t, axis=1)
    mad = np.median(np.abs(sample_t - med[:, None]), axis=1)
    scale = np.maximum(_MAD_TO_SIGMA * mad, SCALE_FLOOR_LAB)
    # 2. Keep pixels whose robust standard distance from the median is <= k (Hampel identifier,
    #    in the three channels at once; NaN compares False and is dropped). OpenCV's SIMD
    #    kernels make this a few ms per megapixel.
    w_d2 = (1.0 / (OUTLIER_K * scale) ** 2).astype(np.float32)
    if min(sub.shape[:2]) >= 8:
        diff = cv2.subtract(sub, (float(med[0]), float(med[1]), float(med[2]), 0.0))
        d2 = cv2.transform(cv2.multiply(diff, diff), w_d2.reshape(1, 3))
        keep_u8 = cv2.bitwise_and(cv2.compare(d2, 1.0, cv2.CMP_LE), region_ok.view(np.uint8))
    else:  # tiny or one-pixel-thin crops: OpenCV would read (1, 1, 3) as a scalar; numpy it is
        with np.errstate(invalid="ignore"):
            d2 = np.sum((sub - med.astype(np.float32)) ** 2 * w_d2, axis=2)
        keep_u8 = ((d2 <= 1.0) & region_ok).view(np.uint8)
    n_keep = int(np.count_nonzero(keep_u8))
    if n_keep == 0:
        return RobustZoneColor(nan3, 0.0, None, 0)
    # 3. Trimmed mean of the kept pixels.
    if min(sub.shape[:2]) >= 8:
        lab = np.asarray(cv2.mean(sub, mask=keep_u8)[:3], dtype=np.float64)
    else:
        lab = sub[keep_u8.view(bool)].astype(np.float64).mean(axis=0)
    # 4. Uniformity: cell means of kept pixels (exact block means by INTER_AREA at an integer
    #    factor), cells at least half kept.
    ny, nx = geom.cell_ok.shape
    uni: float | None = None
    n_cells = 0
    if ny > 0 and nx > 0 and geom.cell_ok.any():
        hh, ww = ny * cell_px, nx * cell_px
        kept_vals = np.zeros((hh, ww, 3), np.float32)
        cv2.copyTo(sub[:hh, :ww], keep_u8[:hh, :ww], kept_vals)
        kept_f = (keep_u8[:hh, :ww] != 0).astype(np.float32)
        means = cv2.resize(kept_vals, (nx, ny), interpolation=cv2.INTER_AREA).reshape(ny, nx, 3)
        frac = cv2.resize(kept_f, (nx, ny), interpolation=cv2.INTER_AREA).reshape(ny, nx)
        usable = geom.cell_ok & (frac * (cell_px * cell_px) >= 0.5 * geom.cell_zone_px)
        if usable.any():
            cell_lab = means[usable].astype(np.float64) / frac[usable][:, None]
            de = np.atleast_1d(delta_e_2000(cell_lab, lab, *weights))
            uni = float(np.percentile(de, 95))
            n_cells = int(usable.sum())
    return RobustZoneColor(lab, n_keep / n_zone, uni, n_cells)


def _check_lab_image(lab: Any, name: str, shape_hw: tuple[int, int] | None = None) -> np.ndarray:
    arr = np.asarray(lab)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"{name}: expected a CIELAB image of shape (H, W, 3), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ImageError(f"{name}: expected float CIELAB (L* 0..100), got dtype {arr.dtype}")
    if shape_hw is not None and arr.shape[:2] != tuple(shape_hw):
        raise ImageError(
            f"{name}: expected the golden frame size {shape_hw[0]}x{shape_hw[1]} (H x W), got {arr.shape[0]}x{arr.shape[1]}"
        )
    return arr.astype(np.float32, copy=False)


def _check_valid(valid: Any, name: str, shape_hw: tuple[int, int]) -> np.ndarray | None:
    if valid is None:
        return None
    v = np.asarray(valid)
    if v.shape != tuple(shape_hw) or v.dtype != bool:
        raise ImageError(f"{name}: expected a bool mask of shape {tuple(shape_hw)}, got {v.dtype} {v.shape}")
    return v


def robust_zone_color(
    lab: Any,
    valid: Any,
    region: "str | Sequence[Sequence[float]]",
    *,
    cell_px: int = 24,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> RobustZoneColor:
    """Robust mean colour, valid fraction and uniformity of one zone of a Lab image.

    Parameters
    ----------
    lab : ndarray, shape (H, W, 3), float
        CIELAB D65 image (golden frame).
    valid : ndarray, shape (H, W), bool, or None
        Pixels that hold data (e.g. inside the warped unit); None = all.
    region : "full" or polygon
        Zone polygon in golden px.
    cell_px : int, optional
        Side of the uniformity cells in px (24 px = 3 mm at 0.125 mm/px).
    weights : (kL, kC, kH), optional
        CIEDE2000 weights for the uniformity figure.

    Returns
    -------
    RobustZoneColor

    Notes
    -----
    Estimator (one pass, no iteration):

    1. per-channel median ``m`` and scale ``s = max(1.4826 MAD, 0.5)`` of L*, a*, b* over the
       zone ∩ valid (a regular subsample of about 10 000 px for large zones);
    2. a pixel is kept when ``sum(((x - m) / s)^2) <= 3.5^2`` (the Hampel identifier,
       median ± 3.5 robust SD [Leys2013]_, applied jointly to the three channels). This drops
       specular highlights on plating, deep shadows and stitch holes, and texture outliers,
       while the cut is symmetric about the median so a symmetric grain leaves the mean
       unbiased;
    3. the zone colour is the mean of the kept pixels. A spectrophotometer averages reflectance
       over its aperture; the mean in CIELAB approximates that for the small spreads left after
       trimming (the CIELAB non-linearity biases a zone with an L* spread σ by O(σ²/L*)).

    A zone is meant to be one colour (one material, one dye); a two-ink print gives a colour
    between the inks and a poor ``valid_fraction``.

    ``valid_fraction`` = kept pixels / zone pixels. Uniformity: the zone's bounding box is tiled
    with ``cell_px`` cells anchored at its top-left corner; cells with at least half their area
    in the zone and half of that kept give a cell mean; ``uniformity_de00`` is the 95th
    percentile of ΔE00(cell mean, zone colour), so a blotchy (dye-lot) zone is caught even when
    its mean is in tolerance.
    """
    arr = _check_lab_image(lab, "lab")
    shape = arr.shape[:2]
    v = _check_valid(valid, "valid", shape)
    if not (isinstance(cell_px, (int, np.integer)) and cell_px >= 2):
        raise SpecError(f"cell_px: expected an int >= 2, got {cell_px!r}")
    geom = _geometry("zone", zone_mask(region, shape), int(cell_px))
    sub = arr[geom.y0 : geom.y1, geom.x0 : geom.x1]
    ok = geom.mask if v is None else geom.mask & v[geom.y0 : geom.y1, geom.x0 : geom.x1]
    return _robust_color(sub, ok, geom, int(cell_px), tuple(float(w) for w in weights))


# ---------------------------------------------------------------------------------------
# Targets: chromatic adaptation
# ---------------------------------------------------------------------------------------

_OBSERVERS = {2: "CIE 1931 2 Degree Standard Observer", 10: "CIE 1964 10 Degree Standard Observer"}


def _whitepoint_xy(illuminant: str, observer: int) -> np.ndarray:
    import colour

    if observer not in _OBSERVERS:
        raise SpecError(f"observer: expected 2 or 10, got {observer!r}")
    table = colour.CCS_ILLUMINANTS[_OBSERVERS[observer]]
    if illuminant not in table:
        raise SpecError(f"illuminant: expected one of D65, D50, A, FL2, FL11, ..., got {illuminant!r}")
    return np.asarray(table[illuminant], dtype=np.float64)


def adapt_lab(
    lab: Any, *, source_illuminant: str, target_illuminant: str = "D65", observer: int = 10
) -> np.ndarray:
    """Carry CIELAB from one white point to another with the Bradford transform.

    Parameters
    ----------
    lab : array_like, shape (..., 3)
        CIELAB relative to ``source_illuminant``.
    source_illuminant, target_illuminant : str
        CIE illuminant names ("D50", "D65", "A", "FL11", ...).
    observer : {2, 10}
        Standard observer of the white points.

    Returns
    -------
    ndarray, shape (..., 3), float64
        CIELAB relative to ``target_illuminant``: Lab -> XYZ (source white) -> von Kries
        scaling in Bradford cone space [Lam1985]_ (``colour.adaptation.chromatic_adaptation``)
        -> Lab (target white).
    """
    import colour

    arr = _as_lab(lab, "lab")
    if source_illuminant == target_illuminant:
        return arr.copy()
    xy_s = _whitepoint_xy(source_illuminant, observer)
    xy_t = _whitepoint_xy(target_illuminant, observer)
    XYZ = colour.Lab_to_XYZ(arr, xy_s)
    XYZ_a = colour.adaptation.chromatic_adaptation(
        XYZ, colour.xy_to_XYZ(xy_s), colour.xy_to_XYZ(xy_t), method="Von Kries", transform="Bradford"
    )
    return np.asarray(colour.XYZ_to_Lab(XYZ_a, xy_t), dtype=np.float64)


def target_lab_d65(zone: ColorZone, target_labs: Mapping[str, Sequence[float]] | None = None) -> np.ndarray | None:
    """The zone's target CIELAB D65, or None when the zone has no target.

    An entry of ``target_labs`` (CIELAB D65, e.g. from :func:`load_color_library`) keyed by the
    zone's name, else by the target's name, overrides ``target.lab``; otherwise ``target.lab``
    is adapted to D65 with :func:`adapt_lab` when ``target.illuminant == "D50"``.

    Raises
    ------
    SpecError
        The target has no ``lab`` and its ``name`` is not in ``target_labs``.
    """
    t = zone.target
    if t is None:
        return None
    if target_labs is not None:
        key = zone.name if zone.name in target_labs else t.name if t.name in target_labs else None
        if key is not None:
            v = np.asarray(target_labs[key], dtype=np.float64)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise SpecError(f"target_labs[{key!r}]: expected finite (L*, a*, b*), got {target_labs[key]!r}")
            return v
    if t.lab is None:
        known = "none given" if not target_labs else f"{len(target_labs)} names"
        raise SpecError(
            f"colors[{zone.name!r}].target: name {t.name!r} not found in the colour library ({known}) and no `lab` given"
        )
    if t.illuminant == "D65":
        return np.asarray(t.lab, dtype=np.float64)
    return np.array(_adapt_to_d65_cached(tuple(float(v) for v in t.lab), t.illuminant, int(t.observer)))


@functools.lru_cache(maxsize=256)
def _adapt_to_d65_cached(lab: tuple[float, float, float], illuminant: str, observer: int) -> tuple[float, ...]:
    out = adapt_lab(np.asarray(lab), source_illuminant=illuminant, target_illuminant="D65", observer=observer)
    return tuple(float(v) for v in out)


# ---------------------------------------------------------------------------------------
# The golden-side model and the measurement
# ---------------------------------------------------------------------------------------


class ZoneColorModel:
    """Golden-side colour state of every zone, fitted once at seal time.

    Use :meth:`fit`; the constructor only stores. Fitted attributes end in ``_``.

    Attributes
    ----------
    cell_px : int
        Uniformity cell side in golden px.
    shape_hw_ : (int, int)
        Golden frame size.
    names_ : tuple of str
        Zone names in spec order.
    golden_lab_ : ndarray, shape (n_zones, 3), float64
        Golden robust zone colour (CIELAB D65): the median over the golden captures.
    golden_spread_de00_ : ndarray, shape (n_zones,), float64
        Largest ΔE00 of one golden capture's zone colour from ``golden_lab_`` (0 with one capture).
    golden_uniformity_de00_ : ndarray, shape (n_zones,), float64
        The golden's own uniformity (median over captures; NaN when no cell was usable).
    golden_valid_fraction_ : ndarray, shape (n_zones,), float64
        Smallest valid fraction over the captures.
    """

    def __init__(self, *, cell_px: int = 24) -> None:
        self.cell_px = cell_px

    # -- fitting --------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        golden_labs: Sequence[np.ndarray],
        valid_masks: Sequence[np.ndarray | None] | None,
        zones: Sequence[ColorZone],
        *,
        cell_px: int = 24,
    ) -> "ZoneColorModel":
        """Fit the model on the aligned golden captures.

        Parameters
        ----------
        golden_labs : sequence of ndarray, shape (H, W, 3), float
            CIELAB D65 of each golden capture, aligned to the golden frame.
        valid_masks : sequence of (ndarray (H, W) bool or None), or None
            Valid pixels of each capture; None = all valid.
        zones : sequence of ColorZone
            The spec's colour zones (regions in golden px).
        cell_px : int, optional
            Uniformity cell side in px (24 px = 3 mm at 0.125 mm/px).

        Raises
        ------
        ImageError
            No capture, or captures of different sizes / not Lab images.
        SpecError
            A zone lies outside the frame, names repeat, or a zone has no valid golden pixel.
        """
        if not isinstance(cell_px, (int, np.integer)) or cell_px < 2:
            raise SpecError(f"cell_px: expected an int >= 2, got {cell_px!r}")
        if len(golden_labs) == 0:
            raise ImageError("golden_labs: expected at least one golden CIELAB image, got none")
        first = _check_lab_image(golden_labs[0], "golden_labs[0]")
        shape = first.shape[:2]
        labs = [_check_lab_image(g, f"golden_labs[{i}]", shape) for i, g in enumerate(golden_labs)]
        if valid_masks is None:
            valids: list[np.ndarray | None] = [None] * len(labs)
        else:
            if len(valid_masks) != len(labs):
                raise ImageError(f"valid_masks: expected {len(labs)} masks (one per capture), got {len(valid_masks)}")
            valids = [_check_valid(v, f"valid_masks[{i}]", shape) for i, v in enumerate(valid_masks)]
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise SpecError(f"zones: names must be unique, got {names}")

        self = cls(cell_px=int(cell_px))
        self.shape_hw_ = (int(shape[0]), int(shape[1]))
        self.names_ = tuple(names)
        self._geoms = [_geometry(z.name, zone_mask(z.region, shape), self.cell_px) for z in zones]
        n = len(zones)
        self.golden_lab_ = np.zeros((n, 3))
        self.golden_spread_de00_ = np.zeros(n)
        self.golden_uniformity_de00_ = np.full(n, np.nan)
        self.golden_valid_fraction_ = np.zeros(n)
        for j, (z, g) in enumerate(zip(zones, self._geoms)):
            res = [self._measure(lab, v, j, z.weights) for lab, v in zip(labs, valids)]
            per = np.array([r.lab for r in res])
            good = np.isfinite(per).all(axis=1)
            if not good.any():
                raise SpecError(f"colors[{z.name!r}]: no valid golden pixel in the zone in any golden capture")
            self.golden_lab_[j] = np.median(per[good], axis=0)
            self.golden_spread_de00_[j] = float(np.max(delta_e_2000(per[good], self.golden_lab_[j], *z.weights)))
            unis = [r.uniformity_de00 for r in res if r.uniformity_de00 is not None]
            if unis:
                self.golden_uniformity_de00_[j] = float(np.median(unis))
            self.golden_valid_fraction_[j] = float(min(r.valid_fraction for r in res))
        return self

    def _measure(self, lab: np.ndarray, valid: np.ndarray | None, j: int, weights: Sequence[float]) -> RobustZoneColor:
        g = self._geoms[j]
        sub = lab[g.y0 : g.y1, g.x0 : g.x1]
        ok = g.mask if valid is None else g.mask & valid[g.y0 : g.y1, g.x0 : g.x1]
        return _robust_color(sub, ok, g, self.cell_px, tuple(float(w) for w in weights))

    def _check_fitted(self) -> None:
        if not hasattr(self, "golden_lab_"):
            raise ModelError("ZoneColorModel: not fitted; call ZoneColorModel.fit(...) or from_state(...)")

    def index(self, name: str) -> int:
        """Position of zone ``name`` (raises SpecError naming the known zones)."""
        self._check_fitted()
        try:
            return self.names_.index(name)
        except ValueError:
            raise SpecError(f"zone {name!r}: not in the fitted colour model (zones: {list(self.names_)})") from None

    def golden_lab(self, name: str) -> tuple[float, float, float]:
        """Golden robust CIELAB D65 of zone ``name``."""
        return tuple(float(v) for v in self.golden_lab_[self.index(name)])  # type: ignore[return-value]

    def mask(self, name: str) -> np.ndarray:
        """Full-frame bool mask (H, W) of zone ``name``."""
        g = self._geoms[self.index(name)]
        out = np.zeros(self.shape_hw_, dtype=bool)
        out[g.y0 : g.y1, g.x0 : g.x1] = g.mask
        return out

    # -- state ------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Arrays and JSON-able values that :meth:`from_state` restores exactly."""
        self._check_fitted()
        state: dict[str, Any] = {
            "version": 1,
            "cell_px": int(self.cell_px),
            "shape_hw": [int(v) for v in self.shape_hw_],
            "names": list(self.names_),
            "bboxes": np.array([[g.y0, g.y1, g.x0, g.x1] for g in self._geoms], dtype=np.int64).reshape(-1, 4),
            "golden_lab": self.golden_lab_.copy(),
            "golden_spread_de00": self.golden_spread_de00_.copy(),
            "golden_uniformity_de00": self.golden_uniformity_de00_.copy(),
            "golden_valid_fraction": self.golden_valid_fraction_.copy(),
        }
        for j, g in enumerate(self._geoms):
            state[f"mask_{j}"] = np.packbits(g.mask, axis=None)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "ZoneColorModel":
        """Rebuild a fitted model from :meth:`to_state` output.

        Raises
        ------
        ModelError
            A key is missing or an array has the wrong shape.
        """
        try:
            if int(state["version"]) != 1:
                raise ModelError(f"ZoneColorModel state: expected version 1, got {state['version']!r}")
            self = cls(cell_px=int(state["cell_px"]))
            h, w = (int(v) for v in state["shape_hw"])
            names = tuple(str(n) for n in state["names"])
            bboxes = np.asarray(state["bboxes"], dtype=np.int64).reshape(-1, 4)
            n = len(names)
            arrays = {}
            for key, shp in (
                ("golden_lab", (n, 3)),
                ("golden_spread_de00", (n,)),
                ("golden_uniformity_de00", (n,)),
                ("golden_valid_fraction", (n,)),
            ):
                a = np.asarray(state[key], dtype=np.float64)
                if a.shape != shp:
                    raise ModelError(f"ZoneColorModel state: {key} expected shape {shp}, got {a.shape}")
                arrays[key] = a
            if bboxes.shape[0] != n:
                raise ModelError(f"ZoneColorModel state: bboxes expected {n} rows, got {bboxes.shape[0]}")
            geoms = []
            for j, (y0, y1, x0, x1) in enumerate(bboxes.tolist()):
                bh, bw = y1 - y0, x1 - x0
                if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
                    raise ModelError(f"ZoneColorModel state: bbox {j} {bboxes[j].tolist()} outside {h}x{w}")
                bits = np.asarray(state[f"mask_{j}"], dtype=np.uint8)
                m = np.unpackbits(bits, count=bh * bw).astype(bool).reshape(bh, bw)
                full = np.zeros((h, w), dtype=bool)
                full[y0:y1, x0:x1] = m
                geoms.append(_geometry(names[j], full, self.cell_px))
        except KeyError as exc:
            raise ModelError(f"ZoneColorModel state: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"ZoneColorModel state: malformed ({exc})") from None
        self.shape_hw_ = (h, w)
        self.names_ = names
        self._geoms = geoms
        self.golden_lab_ = arrays["golden_lab"]
        self.golden_spread_de00_ = arrays["golden_spread_de00"]
        self.golden_uniformity_de00_ = arrays["golden_uniformity_de00"]
        self.golden_valid_fraction_ = arrays["golden_valid_fraction"]
        return self


def measure_zone_colors(
    unit_lab: Any,
    valid: Any,
    model: ZoneColorModel,
    zones: Sequence[ColorZone],
    *,
    target_labs: Mapping[str, Sequence[float]] | None = None,
) -> list[ColorResult]:
    """Colour of every zone of a registered unit against its target and the golden.

    Parameters
    ----------
    unit_lab : ndarray, shape (H, W, 3), float
        The unit's CIELAB D65 in the golden frame (H, W = ``model.shape_hw_``).
    valid : ndarray, shape (H, W), bool, or None
        Pixels that hold unit data after warping; None = all.
    model : ZoneColorModel
        Golden-side model fitted at seal time on the same zones.
    zones : sequence of ColorZone
        The spec's colour zones; each must be in ``model.names_``.
    target_labs : mapping of str to (L*, a*, b*), optional
        Target CIELAB D65 keyed by zone name (resolved targets, as the pipeline stores them)
        or by target name (a whole colour library); the zone name is tried first. Overrides
        ``target.lab`` and resolves targets given only by name.

    Returns
    -------
    list of ColorResult
        One per zone in order: robust ``lab`` (see :func:`robust_zone_color`), ΔE00 with the
        zone's (kL, kC, kH) against the target (D50 targets adapted with Bradford, see
        :func:`target_lab_d65`) and against the golden, components ``d_l, d_c, d_h`` relative
        to the target when there is one, else the golden, the 95th-percentile cell ΔE00
        uniformity and the valid fraction. A zone with no valid pixel gets NaN colour and
        deltas and ``valid_fraction = 0`` (so ``ok`` is False; decision should say "review").

    Raises
    ------
    ImageError
        ``unit_lab`` / ``valid`` have the wrong shape or dtype.
    SpecError
        A zone is not in the model, or a named target cannot be resolved.
    """
    model._check_fitted()
    arr = _check_lab_image(unit_lab, "unit_lab", model.shape_hw_)
    v = _check_valid(valid, "valid", model.shape_hw_)
    out: list[ColorResult] = []
    for zone in zones:
        j = model.index(zone.name)
        w = tuple(float(x) for x in zone.weights)
        r = model._measure(arr, v, j, w)
        golden = model.golden_lab_[j]
        target = target_lab_d65(zone, target_labs)
        de_golden = float(delta_e_2000(r.lab, golden, *w))
        de_target = None if target is None else float(delta_e_2000(r.lab, target, *w))
        ref = golden if target is None else target
        _, dl, dc, dh = delta_e_2000_components(r.lab, ref, kL=w[0], kC=w[1], kH=w[2])
        out.append(
            ColorResult(
                name=zone.name,
                lab=tuple(float(x) for x in r.lab),  # type: ignore[arg-type]
                delta_e_target=de_target,
                delta_e_golden=de_golden,
                tolerance=float(zone.tolerance_de00),
                golden_tolerance=float(zone.golden_tolerance_de00 or zone.tolerance_de00),
                severity=zone.severity,
                golden_lab=tuple(float(x) for x in golden),  # type: ignore[arg-type]
                target_lab=None if target is None else tuple(float(x) for x in target),  # type: ignore[arg-type]
                d_l=float(dl),
                d_c=float(dc),
                d_h=float(dh),
                uniformity_de00=r.uniformity_de00,
                uniformity_tolerance=zone.uniformity_tolerance_de00,
                valid_fraction=float(r.valid_fraction),
            )
        )
    return out


def zone_delta_e_map(
    unit_lab: Any,
    model: ZoneColorModel,
    zone: "ColorZone | str",
    reference_lab: Sequence[float],
    *,
    weights: Sequence[float] | None = None,
    valid: Any = None,
    smooth_px: int = 5,
) -> np.ndarray:
    """Per-pixel ΔE00 of a zone from a reference colour, for report heat maps.

    Parameters
    ----------
    unit_lab : ndarray, shape (H, W, 3), float
        The unit's CIELAB D65 in the golden frame.
    model : ZoneColorModel
        Gives the zone's pixels.
    zone : ColorZone or str
        The zone (or its name).
    reference_lab : (L*, a*, b*)
        Reference CIELAB D65 (the target or ``model.golden_lab(name)``).
    weights : (kL, kC, kH), optional
        Defaults to the zone's weights (1, 1, 1 when only a name is given).
    valid : ndarray (H, W) bool, optional
        Pixels with data; invalid pixels neither enter the smoothing nor get a value.
    smooth_px : int, optional
        Side of the box filter applied to Lab first (normalised over valid zone pixels), so
        that texture grain does not dominate the map; 1 = no smoothing.

    Returns
    -------
    ndarray, shape (H, W), float32
        ΔE00 inside the zone, NaN outside it and on invalid pixels.
    """
    name = zone if isinstance(zone, str) else zone.name
    if weights is None:
        weights = (1.0, 1.0, 1.0) if isinstance(zone, str) else zone.weights
    w = tuple(float(x) for x in weights)
    _check_weights(*w)
    ref = _as_lab(reference_lab, "reference_lab")
    if ref.shape != (3,):
        raise ImageError(f"reference_lab: expected one colour (3,), got shape {ref.shape}")
    if not (isinstance(smooth_px, (int, np.integer)) and smooth_px >= 1):
        raise SpecError(f"smooth_px: expected an int >= 1, got {smooth_px!r}")
    j = model.index(name)
    arr = _check_lab_image(unit_lab, "unit_lab", model.shape_hw_)
    v = _check_valid(valid, "valid", model.shape_hw_)
    g = model._geoms[j]
    sub = arr[g.y0 : g.y1, g.x0 : g.x1]
    ok = g.mask if v is None else g.mask & v[g.y0 : g.y1, g.x0 : g.x1]
    ok = ok & np.isfinite(sub).all(axis=2)
    okf = ok.astype(np.float32)
    vals = np.where(ok[..., None], sub, np.float32(0.0))
    if smooth_px > 1:
        k = (int(smooth_px), int(smooth_px))
        num = cv2.blur(vals, k, borderType=cv2.BORDER_CONSTANT)
        den = cv2.blur(okf, k, borderType=cv2.BORDER_CONSTANT)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = num / den[..., None]
    de = np.asarray(delta_e_2000(vals, ref, *w), dtype=np.float32)
    out = np.full(model.shape_hw_, np.nan, dtype=np.float32)
    out[g.y0 : g.y1, g.x0 : g.x1] = np.where(ok, de, np.float32(np.nan))
    return out


# ---------------------------------------------------------------------------------------
# Colour libraries (CSV) and spectral data (CGATS.17)
# ---------------------------------------------------------------------------------------


def _read_source(path_or_text: "str | Path", what: str) -> tuple[str, str]:
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return "<text>", path_or_text
    if not isinstance(path_or_text, (str, Path)):
        raise SpecError(f"{what}: expected a path or text, got {type(path_or_text).__name__}")
    p = Path(path_or_text)
    try:
        return str(p), p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"{what} {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{what} {p}: cannot read ({exc})") from None


_LIB_COLUMNS = {"name": "name", "l": "L", "l*": "L", "a": "a", "a*": "a", "b": "b", "b*": "b",
                "illuminant": "illuminant", "observer": "observer"}


def load_color_library(path_or_text: "str | Path") -> dict[str, tuple[float, float, float]]:
    """Read a colour library CSV ``name,L,a,b[,illuminant][,observer]`` into name -> Lab D65.

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the CSV text itself (any string containing a newline). A header row is
        required (column names case-insensitive; ``L*``, ``a*``, ``b*`` accepted). Blank lines
        and lines starting with ``#`` are skipped.

    Returns
    -------
    dict of str to (L*, a*, b*)
        CIELAB D65; entries with ``illuminant`` D50 (or another CIE illuminant) are adapted with
        Bradford (:func:`adapt_lab`). ``observer`` (2 or 10, default 10) selects the white
        points; CIELAB cannot be converted between observers without spectra, so it is not.

    Raises
    ------
    SpecError
        Missing header columns, a malformed row, a value out of range or a repeated name; the
        message names the source and the line number.
    """
    src, text = _read_source(path_or_text, "colour library")
    rows = [(i, line) for i, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise SpecError(f"colour library {src}: expected a header 'name,L,a,b' and rows, got no content")
    hline, header = rows[0]
    cols = [c.strip().lower() for c in next(csv.reader([header]))]
    mapped = [_LIB_COLUMNS.get(c) for c in cols]
    if None in mapped or len(set(mapped)) != len(mapped) or not {"name", "L", "a", "b"} <= set(mapped):
        raise SpecError(
            f"colour library {src} line {hline}: expected a header with columns name, L, a, b "
            f"(optional illuminant, observer), got {cols}"
        )
    pos = {m: k for k, m in enumerate(mapped)}
    out: dict[str, tuple[float, float, float]] = {}
    for lineno, line in rows[1:]:
        fields = [f.strip() for f in next(csv.reader([line]))]
        where = f"colour library {src} line {lineno}"
        if len(fields) != len(cols):
            raise SpecError(f"{where}: expected {len(cols)} fields ({', '.join(cols)}), got {len(fields)}")
        name = fields[pos["name"]]
        if not name:
            raise SpecError(f"{where}: expected a colour name, got an empty field")
        try:
            L, a, b = (float(fields[pos[c]]) for c in ("L", "a", "b"))
        except ValueError:
            raise SpecError(
                f"{where}: expected numbers for L, a, b, got {[fields[pos[c]] for c in ('L', 'a', 'b')]}"
            ) from None
        if not (0.0 <= L <= 100.0 and -200.0 <= a <= 200.0 and -200.0 <= b <= 200.0):
            raise SpecError(f"{where}: expected L* in [0, 100] and a*, b* in [-200, 200], got {[L, a, b]}")
        illum = fields[pos["illuminant"]].upper() if "illuminant" in pos and fields[pos["illuminant"]] else "D65"
        obs_s = fields[pos["observer"]] if "observer" in pos and fields[pos["observer"]] else "10"
        try:
            observer = int(float(obs_s))
        except ValueError:
            observer = -1
        if observer not in (2, 10):
            raise SpecError(f"{where}: expected observer 2 or 10, got {obs_s!r}")
        if name in out:
            raise SpecError(f"{where}: colour name {name!r} repeats an earlier row")
        lab = np.array([L, a, b])
        if illum != "D65":
            try:
                lab = adapt_lab(lab, source_illuminant=illum, target_illuminant="D65", observer=observer)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
        out[name] = (float(lab[0]), float(lab[1]), float(lab[2]))
    return out


@dataclass(frozen=True, slots=True)
class SpectralSample:
    """One measured reflectance spectrum.

    Attributes
    ----------
    sample_id : str
    name : str
    wavelengths_nm : ndarray, shape (n,), float64
        Increasing wavelengths in nm.
    reflectance : ndarray, shape (n,), float64
        Spectral reflectance factor, 0..1 (1 = perfect reflecting diffuser).
    """

    sample_id: str
    name: str
    wavelengths_nm: np.ndarray
    reflectance: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.wavelengths_nm, dtype=np.float64)
        r = np.asarray(self.reflectance, dtype=np.float64)
        if w.ndim != 1 or r.shape != w.shape or w.size < 3:
            raise SpecError(
                f"SpectralSample {self.name!r}: expected matching 1-D wavelengths and reflectance (>= 3), "
                f"got {w.shape} and {r.shape}"
            )
        if np.any(np.diff(w) <= 0):
            raise SpecError(f"SpectralSample {self.name!r}: expected increasing wavelengths, got {w.tolist()}")
        object.__setattr__(self, "wavelengths_nm", w)
        object.__setattr__(self, "reflectance", r)


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_SPECTRAL_FIELD = re.compile(r"^(?:SPECTRAL_NM|SPECTRAL_|NM|R)_?(\d{3,4})(?:\.\d+)?$", re.IGNORECASE)


def _tokens(line: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(line)]


def read_cgats(path_or_text: "str | Path", *, percent: bool | None = None) -> list[SpectralSample]:
    """Read reflectance spectra from CGATS.17 ASCII text [CGATS17]_.

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the text itself (any string containing a newline): keywords, then
        ``BEGIN_DATA_FORMAT`` / field names / ``END_DATA_FORMAT`` and ``BEGIN_DATA`` / rows /
        ``END_DATA``, as exported by X-Rite i1Profiler or Barbieri (the first table of the file). Spectral fields are
        ``SPECTRAL_NM380`` (also ``SPECTRAL_380``, ``nm380``, ``R380``); ``SAMPLE_ID`` and
        ``SAMPLE_NAME`` are optional. Other fields (LAB_L, ...) are ignored.
    percent : bool or None, optional
        Whether the values are in percent (0..100). None: inferred only when unambiguous:
        all values <= 1.5 -> factor, any value > 1.5 -> percent.

    Returns
    -------
    list of SpectralSample
        Reflectance factor 0..1, one per data row, in file order.

    Raises
    ------
    SpecError
        Missing sections, no spectral fields, a row with the wrong number of fields or a
        non-numeric value, or a NUMBER_OF_SETS / NUMBER_OF_FIELDS mismatch; the message names
        the source and the line number.
    """
    src, text = _read_source(path_or_text, "CGATS")
    fields: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    n_sets: tuple[int, int] | None = None
    n_fields: tuple[int, int] | None = None
    state = "header"
    fmt_line = data_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"CGATS {src} line {lineno}"
        upper = line.split()[0].upper()
        if state == "header":
            if upper == "BEGIN_DATA_FORMAT":
                state, fmt_line, fields = "format", lineno, []
            elif upper == "BEGIN_DATA":
                if fields is None:
                    raise SpecError(f"{where}: expected BEGIN_DATA_FORMAT before BEGIN_DATA")
                state, data_line = "data", lineno
            elif upper in ("NUMBER_OF_SETS", "NUMBER_OF_FIELDS"):
                parts = line.split()
                try:
                    val = (lineno, int(parts[1]))
                except (IndexError, ValueError):
                    raise SpecError(f"{where}: expected '{upper} <integer>', got {line!r}") from None
                if upper == "NUMBER_OF_SETS":
                    n_sets = val
                else:
                    n_fields = val
        elif state == "format":
            if upper == "END_DATA_FORMAT":
                state = "header"
            else:
                assert fields is not None
                fields.extend(_tokens(line))
        elif state == "data":
            if upper == "END_DATA":
                state = "done"
            else:
                rows.append((lineno, _tokens(line)))
        # state == "done": trailing keywords are ignored
    if fields is None:
        raise SpecError(f"CGATS {src}: expected a BEGIN_DATA_FORMAT ... END_DATA_FORMAT section, got none")
    if state == "format":
        raise SpecError(f"CGATS {src} line {fmt_line}: BEGIN_DATA_FORMAT has no END_DATA_FORMAT")
    if state == "data":
        raise SpecError(f"CGATS {src} line {data_line}: BEGIN_DATA has no END_DATA")
    if not data_line:
        raise SpecError(f"CGATS {src}: expected a BEGIN_DATA ... END_DATA section, got none")
    if n_fields is not None and n_fields[1] != len(fields):
        raise SpecError(
            f"CGATS {src} line {n_fields[0]}: NUMBER_OF_FIELDS says {n_fields[1]}, the data format has {len(fields)}"
        )
    if n_sets is not None and n_sets[1] != len(rows):
        raise SpecError(f"CGATS {src} line {n_sets[0]}: NUMBER_OF_SETS says {n_sets[1]}, the data has {len(rows)} rows")
    upper_fields = [f.upper() for f in fields]
    spec_cols: list[tuple[float, int]] = []
    for k, f in enumerate(fields):
        m = _SPECTRAL_FIELD.match(f)
        if m:
            spec_cols.append((float(m.group(1)), k))
    if len(spec_cols) < 3:
        raise SpecError(
            f"CGATS {src} line {fmt_line}: expected spectral fields SPECTRAL_NM380... (or nm380...), got {fields}"
        )
    spec_cols.sort()
    wl = np.array([w for w, _ in spec_cols])
    if np.any(np.diff(wl) <= 0):
        raise SpecError(f"CGATS {src} line {fmt_line}: repeated spectral wavelengths {wl.tolist()}")
    id_col = upper_fields.index("SAMPLE_ID") if "SAMPLE_ID" in upper_fields else None
    name_col = upper_fields.index("SAMPLE_NAME") if "SAMPLE_NAME" in upper_fields else None
    values = np.empty((len(rows), len(spec_cols)))
    ids: list[str] = []
    names: list[str] = []
    for r, (lineno, toks) in enumerate(rows):
        where = f"CGATS {src} line {lineno}"
        if len(toks) != len(fields):
            raise SpecError(f"{where}: expected {len(fields)} values (one per field), got {len(toks)}")
        for c, (w, k) in enumerate(spec_cols):
            try:
                values[r, c] = float(toks[k])
            except ValueError:
                raise SpecError(f"{where}: field {fields[k]}: expected a number, got {toks[k]!r}") from None
        if not np.all(np.isfinite(values[r])):
            raise SpecError(f"{where}: expected finite spectral values, got {values[r].tolist()}")
        ids.append(toks[id_col] if id_col is not None else str(r + 1))
        names.append(toks[name_col] if name_col is not None else ids[-1])
    if percent is None:
        percent = bool(values.size and np.max(values) > 1.5)
    if percent:
        values = values / 100.0
    return [SpectralSample(i, n, wl.copy(), values[r].copy()) for r, (i, n) in enumerate(zip(ids, names))]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_cxf(path_or_text: "str | Path") -> list[SpectralSample]:
    """Read reflectance spectra from a CxF3 file (ISO 17972-1, X-Rite Color Exchange Format).

    Parameters
    ----------
    path_or_text : str or Path
        A file path, or the XML text itself (any string containing a newline or starting with
        ``<``). Every ``Object`` of the ``ObjectCollection`` that has a
        ``ColorValues/ReflectanceSpectrum`` gives one sample (its first spectrum); the
        wavelengths start at the spectrum's ``StartWL`` and step by the ``Increment`` of its
        ``ColorSpecification``'s ``WavelengthRange`` (10 nm when not stated). Element names
        are matched without their namespace.

    Returns
    -------
    list of SpectralSample
        Reflectance factor 0..1 (CxF's unit), ``sample_id`` = the object's ``Id``,
        ``name`` = its ``Name``.

    Raises
    ------
    SpecError
        Not well-formed XML (with line and column), no spectra, or a spectrum with a
        non-numeric value or missing ``StartWL`` (naming the object).
    """
    import xml.etree.ElementTree as ET

    if isinstance(path_or_text, str) and ("\n" in path_or_text or path_or_text.lstrip().startswith("<")):
        src, text = "<text>", path_or_text
    else:
        src, text = _read_source(path_or_text, "CxF")
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise SpecError(f"CxF {src} line {line} column {col}: not well-formed XML ({exc})") from None
    increments: dict[str, float] = {}
    for el in root.iter():
        if _local(el.tag) == "ColorSpecification" and el.get("Id") is not None:
            for sub in el.iter():
                if _local(sub.tag) == "WavelengthRange" and sub.get("Increment") is not None:
                    try:
                        increments[el.get("Id", "")] = float(sub.get("Increment", "10"))
                    except ValueError:
                        raise SpecError(
                            f"CxF {src}: ColorSpecification {el.get('Id')!r}: Increment expected a number, "
                            f"got {sub.get('Increment')!r}"
                        ) from None
    out: list[SpectralSample] = []
    for obj in root.iter():
        if _local(obj.tag) != "Object":
            continue
        spectrum = next((e for e in obj.iter() if _local(e.tag) == "ReflectanceSpectrum"), None)
        if spectrum is None:
            continue
        name = obj.get("Name") or obj.get("Id") or f"object {len(out) + 1}"
        where = f"CxF {src}: object {name!r}"
        try:
            values = np.array([float(v) for v in (spectrum.text or "").split()])
        except ValueError:
            raise SpecError(f"{where}: ReflectanceSpectrum expected numbers, got {(spectrum.text or '')[:60]!r}") from None
        start = spectrum.get("StartWL")
        if start is None:
            raise SpecError(f"{where}: ReflectanceSpectrum has no StartWL attribute")
        try:
            start_nm = float(start)
        except ValueError:
            raise SpecError(f"{where}: StartWL expected a number, got {start!r}") from None
        step = increments.get(spectrum.get("ColorSpecification", ""), 10.0)
        if values.size < 3 or not np.all(np.isfinite(values)):
            raise SpecError(f"{where}: expected at least 3 finite reflectance values, got {values.size}")
        out.append(SpectralSample(obj.get("Id") or str(len(out) + 1), name,
                                  start_nm + step * np.arange(values.size), values))
    if not out:
        raise SpecError(f"CxF {src}: expected Objects with ColorValues/ReflectanceSpectrum, found none")
    return out


_ILLUMINANT_ALIASES = {"TL84": "FL11", "F11": "FL11", "CWF": "FL2", "F2": "FL2", "F12": "FL12", "U30": "FL12"}


def _illuminant_name(name: str) -> str:
    import colour

    key = _ILLUMINANT_ALIASES.get(name.upper(), name.upper() if name.upper() in colour.SDS_ILLUMINANTS else name)
    if key not in colour.SDS_ILLUMINANTS:
        raise SpecError(f"illuminant: expected a CIE illuminant (D65, D50, A, FL11/TL84, FL2/CWF, ...), got {name!r}")
    return key


def _sample_XYZ(sample: SpectralSample, illuminant: str, observer: int) -> tuple[np.ndarray, np.ndarray]:
    """Tristimulus values (Y of the perfect diffuser = 100) of a sample and of the white."""
    import colour

    if observer not in _OBSERVERS:
        raise SpecError(f"observer: expected 2 or 10, got {observer!r}")
    if not isinstance(sample, SpectralSample):
        raise SpecError(f"sample: expected a SpectralSample, got {type(sample).__name__}")
    cmfs = colour.MSDS_CMFS[_OBSERVERS[observer]]
    illum = colour.SDS_ILLUMINANTS[_illuminant_name(illuminant)]
    sd = colour.SpectralDistribution(dict(zip(sample.wavelengths_nm, sample.reflectance)), name=sample.name)
    ones = colour.SpectralDistribution(dict(zip(sample.wavelengths_nm, np.ones_like(sample.reflectance))))
    method = "ASTM E308"
    steps = np.diff(sample.wavelengths_nm)
    if not (np.allclose(steps, steps[0]) and steps[0] in (1.0, 5.0, 10.0, 20.0)):
        method = "Integration"
        sd = sd.copy().interpolate(colour.SpectralShape(sd.shape.start, sd.shape.end, 1))
        ones = ones.copy().interpolate(colour.SpectralShape(ones.shape.start, ones.shape.end, 1))
    with warnings.catch_warnings():  # colour notes that it trims/aligns the CMFs to the data range
        warnings.simplefilter("ignore", colour.utilities.ColourRuntimeWarning)
        XYZ = np.asarray(colour.sd_to_XYZ(sd, cmfs, illum, method=method), dtype=np.float64)
        XYZ_n = np.asarray(colour.sd_to_XYZ(ones, cmfs, illum, method=method), dtype=np.float64)
    return XYZ, XYZ_n


def spectral_to_lab(sample: SpectralSample, illuminant: str = "D65", observer: int = 10) -> np.ndarray:
    """CIELAB of a reflectance spectrum under an illuminant and observer [CIE15]_.

    Parameters
    ----------
    sample : SpectralSample
        Reflectance factor 0..1.
    illuminant : str, optional
        CIE illuminant name ("D65", "D50", "A", "FL11" or its alias "TL84", "FL2"/"CWF", ...).
    observer : {2, 10}, optional

    Returns
    -------
    ndarray, shape (3,), float64
        CIELAB relative to the perfect reflecting diffuser under the same illuminant (the
        white is integrated with the same weights, so a flat 1.0 spectrum gives L* = 100,
        a* = b* = 0). Tristimulus by ``colour.sd_to_XYZ`` (ASTM E308 tables for 1/5/10/20 nm
        data spanning the visible, else 1 nm integration).
    """
    import colour

    XYZ, XYZ_n = _sample_XYZ(sample, illuminant, observer)
    return np.asarray(colour.XYZ_to_Lab(XYZ / XYZ_n[1], colour.XYZ_to_xy(XYZ_n)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MetamerismIndex:
    """Metamerism of a pair for one change of illuminant (reference -> test).

    Attributes
    ----------
    illuminant : str
        Test illuminant (CIE name, e.g. "FL11" for TL84, "A").
    delta_e00_adapted : float
        ΔE00 of the pair under the test illuminant, each colour carried to the reference white
        by Bradford (what an observer adapted to the test light sees, on the D65 scale).
    delta_e00_cie : float
        CIE special metamerism index for a change in illuminant [CIE15]_: ΔE00 in CIELAB of the
        test illuminant after the multiplicative correction ``X'_2 = X_2 (X_1 / X_2)_ref``
        (per tristimulus), which removes the pair's mismatch under the reference illuminant.
    delta_e00_reference : float
        ΔE00 of the pair under the reference illuminant (0 for a perfect match).
    """

    illuminant: str
    delta_e00_adapted: float
    delta_e00_cie: float
    delta_e00_reference: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "illuminant": self.illuminant,
            "delta_e00_adapted": self.delta_e00_adapted,
            "delta_e00_cie": self.delta_e00_cie,
            "delta_e00_reference": self.delta_e00_reference,
        }


def metamerism_index(
    sample_spectrum: SpectralSample,
    reference_spectrum: SpectralSample,
    *,
    reference_illuminant: str = "D65",
    test_illuminants: Iterable[str] = ("FL11", "A"),
    observer: int = 10,
) -> tuple[MetamerismIndex, ...]:
    """How much a sample and a reference part company when the light changes.

    Parameters
    ----------
    sample_spectrum, reference_spectrum : SpectralSample
        Reflectance spectra of the unit (sample) and of the standard (reference).
    reference_illuminant : str, optional
        Illuminant under which the pair is judged a match (D65, ISO 3664 viewing daylight D50
        also common).
    test_illuminants : iterable of str, optional
        CIE names; "FL11" is the TL84 store light, "A" incandescent, "FL2" CWF.
    observer : {2, 10}, optional

    Returns
    -------
    tuple of MetamerismIndex
        One per test illuminant, in order.
    """
    import colour

    XYZ_s_r, XYZ_n_r = _sample_XYZ(sample_spectrum, reference_illuminant, observer)
    XYZ_f_r, _ = _sample_XYZ(reference_spectrum, reference_illuminant, observer)
    white_r = colour.XYZ_to_xy(XYZ_n_r)
    lab_s_r = colour.XYZ_to_Lab(XYZ_s_r / XYZ_n_r[1], white_r)
    lab_f_r = colour.XYZ_to_Lab(XYZ_f_r / XYZ_n_r[1], white_r)
    de_ref = float(delta_e_2000(lab_s_r, lab_f_r))
    out = []
    for name in test_illuminants:
        XYZ_s_t, XYZ_n_t = _sample_XYZ(sample_spectrum, name, observer)
        XYZ_f_t, _ = _sample_XYZ(reference_spectrum, name, observer)
        # (a) adapted: carry both to the reference white with Bradford, Lab on that white.
        kw = dict(method="Von Kries", transform="Bradford")
        ad_s = colour.adaptation.chromatic_adaptation(XYZ_s_t / XYZ_n_t[1], XYZ_n_t / XYZ_n_t[1], XYZ_n_r / XYZ_n_r[1], **kw)
        ad_f = colour.adaptation.chromatic_adaptation(XYZ_f_t / XYZ_n_t[1], XYZ_n_t / XYZ_n_t[1], XYZ_n_r / XYZ_n_r[1], **kw)
        de_ad = float(delta_e_2000(colour.XYZ_to_Lab(ad_s, white_r), colour.XYZ_to_Lab(ad_f, white_r)))
        # (b) CIE special metamerism index with multiplicative correction, Lab on the test white.
        corr = XYZ_s_t * (XYZ_f_r / XYZ_s_r)
        white_t = colour.XYZ_to_xy(XYZ_n_t)
        de_cie = float(
            delta_e_2000(colour.XYZ_to_Lab(corr / XYZ_n_t[1], white_t), colour.XYZ_to_Lab(XYZ_f_t / XYZ_n_t[1], white_t))
        )
        out.append(MetamerismIndex(_illuminant_name(name), de_ad, de_cie, de_ref))
    return tuple(out)
