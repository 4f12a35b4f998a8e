"""Robust colour of one zone of a CIELAB image: Hampel-trimmed mean, valid fraction, uniformity.

References
----------
.. [Leys2013] C. Leys et al., "Detecting outliers: Do not use standard deviation around the
   mean, use absolute deviation around the median", J. Exp. Soc. Psychol. 49(4), 764-766
   (2013), doi:10.1016/j.jesp.2013.03.013 (median ± k·1.4826·MAD, the Hampel identifier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast
from collections.abc import Sequence

import cv2
import numpy as np

from .._stats import robust_sd
from ..errors import ImageError, SpecError
from ..zones import zone_mask
from .difference import delta_e_2000

__all__ = ["RobustZoneColor", "robust_zone_color", "OUTLIER_K", "SCALE_FLOOR_LAB"]

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
    # MAD scaled to a normal SD (MAD / Phi^-1(3/4) = 1.4826 MAD), at least the 10-90 %
    # interpercentile range scaled alike: the cut then never trims a part of the material that
    # is more than a tenth of the zone (wood's darker latewood bands and pores, a third of the
    # board: the MAD of the earlywood alone trimmed them, and the oak read 0.42 L* light)
    scale = np.maximum(robust_sd(sample_t, axis=1), SCALE_FLOOR_LAB)
    # 2. Keep pixels whose robust standard distance from the median is <= k (Hampel identifier,
    #    in the three channels at once; NaN compares False and is dropped). OpenCV's SIMD
    #    kernels make this a few ms per megapixel.
    w_d2 = (1.0 / (OUTLIER_K * scale) ** 2).astype(np.float32)
    if min(sub.shape[:2]) >= 8:
        # OpenCV takes a Scalar (4-tuple) as src2; its stubs only list arrays
        diff = cv2.subtract(sub, (float(med[0]), float(med[1]), float(med[2]), 0.0))  # type: ignore[call-overload]
        d2 = cv2.transform(cv2.multiply(diff, diff), w_d2.reshape(1, 3))
        # a scalar src2 is valid OpenCV (compare with a constant); the stubs only list arrays
        keep_u8 = cv2.bitwise_and(cv2.compare(d2, 1.0, cv2.CMP_LE),  # type: ignore[call-overload]
                                  region_ok.view(np.uint8))
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
    2. ``s`` is at least the 10-90 % interpercentile range over 2.563 (its SD multiple for a
       normal distribution): a material part of more than a tenth of the zone in one tail (a
       grain's darker bands, a bimodal texture) is the zone's colour, not an outlier;
       a pixel is kept when ``sum(((x - m) / s)^2) <= 3.5^2`` (the Hampel identifier,
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
    return _robust_color(sub, ok, geom, int(cell_px), cast("tuple[float, float, float]", tuple(float(w) for w in weights)))
