"""Variation model: per-pixel mean and spread of aligned good images.

In the spirit of HALCON's variation model (MVTec, ``train_variation_model`` /
``prepare_variation_model`` / ``compare_variation_model``; see also Steger, Ulrich &
Wiedemann, *Machine Vision Algorithms and Applications*, 2nd ed., Wiley 2018, §3.12):
a unit pixel deviates when ``|u - mean| > k * spread``, where the spread is the per-pixel
standard deviation of the good images floored by

* an absolute term (sensor noise, JPEG): ``abs_floor`` grey levels,
* a relative term ``rel_floor * mean`` (shot noise grows with the signal),
* a gradient term ``grad_px * |∇mean|``: at an edge a registration error of ``grad_px`` px
  changes the value by about that much, so edges tolerate sub-pixel misregistration.

All values are per RGB channel on the 0-255 scale after a Gaussian blur of ``BLUR_SIGMA_PX``
(robust to demosaicing and JPEG noise). Lighting changes are removed by a per-channel
gain fitted robustly (median of ratios) inside the zone before comparing.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "BLUR_SIGMA_PX",
    "prepare",
    "robust_gain",
    "combine_stats",
    "weighted_mean",
    "spread",
    "tolerance_band",
    "deviation_map",
]

#: Gaussian pre-blur (px) of every image entering the variation model.
BLUR_SIGMA_PX = 1.0


def prepare(image: np.ndarray, *, sigma_px: float = BLUR_SIGMA_PX) -> np.ndarray:
    """Blurred float32 copy of an RGB image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB image in golden px.
    sigma_px : float, keyword-only
        Gaussian sigma in px (0 = no blur).

    Returns
    -------
    ndarray, shape (H, W, 3), float32, range [0, 255]
    """
    if sigma_px > 0:  # uint8 blur (fixed point, 2x faster); rounding adds <= 0.5 level
        image = cv2.GaussianBlur(image, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    return image.astype(np.float32)


def robust_gain(
    unit: np.ndarray,
    mean: np.ndarray,
    mask: np.ndarray | None,
    *,
    min_level: float = 12.0,
    step: int | None = None,
) -> np.ndarray:
    """Per-channel gain ``g`` with ``unit ≈ g * mean``, robust to defects (median of ratios).

    Parameters
    ----------
    unit, mean : ndarray, shape (H, W, 3), float32, range [0, 255]
        Prepared unit and the golden mean.
    mask : ndarray, shape (H, W), bool, or None
        Pixels to use (zone and valid); None = all.
    min_level : float, keyword-only
        Pixels darker than this in the mean carry no gain information and are skipped.
    step : int or None, keyword-only
        Subsampling stride in px (speed); None = about 20 000 samples.

    Returns
    -------
    ndarray, shape (3,), float32
        Gains, clipped to [0.25, 4]; 1 where a channel has no usable pixel.
    """
    if step is None:
        step = max(1, int(np.sqrt(unit.shape[0] * unit.shape[1] / 20_000)))
    u = unit[::step, ::step].reshape(-1, 3)
    m = mean[::step, ::step].reshape(-1, 3)
    sel = np.ones(len(u), bool) if mask is None else mask[::step, ::step].ravel()
    g = np.ones(3, np.float32)
    for c in range(3):
        ok = sel & (m[:, c] > min_level)
        if ok.sum() >= 16:
            g[c] = float(np.median(u[ok, c] / m[ok, c]))
    return np.clip(g, 0.25, 4.0).astype(np.float32)


def weighted_mean(images: list[np.ndarray], weights: list[np.ndarray], *, shape_hw: tuple[int, ...]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel sum of the weights and weighted mean of images: the first pass of
    :func:`combine_stats`, whose mean it is when there are no statistics before (``n_a = 0``).

    Parameters
    ----------
    images : list of ndarray, each (H, W, 3) float32
        Prepared, gain-normalised good images.
    weights : list of ndarray, each (H, W) float32 in {0, 1}
        Validity of each image's pixels.
    shape_hw : tuple, keyword-only
        (H, W), for no images.

    Returns
    -------
    n : ndarray, shape (H, W), float32
        Sum of the weights.
    mean : ndarray, shape (H, W, 3), float32
        Weighted mean, 0 where the weights sum to 0.
    """
    wsum = np.zeros(shape_hw, np.float32)
    s1 = np.zeros(tuple(shape_hw) + (3,), np.float32)
    for im, w in zip(images, weights):
        wsum += w
        s1 += im * w[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum[..., None] > 0, s1 / np.maximum(wsum, 1)[..., None], 0).astype(np.float32)
    return wsum, mean


def combine_stats(
    n_a: np.ndarray, mean_a: np.ndarray, var_a: np.ndarray, images: list[np.ndarray], weights: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge per-pixel (count, mean, variance) with new weighted images (Chan et al. 1979).

    Parameters
    ----------
    n_a : ndarray, shape (H, W), float32
        Per-pixel sample count so far (0 for a fresh model).
    mean_a, var_a : ndarray, shape (H, W, 3), float32
        Per-pixel mean and population variance so far.
    images : list of ndarray, each (H, W, 3) float32
        Prepared, gain-normalised good images.
    weights : list of ndarray, each (H, W) float32 in {0, 1}
        Validity of each image's pixels.

    Returns
    -------
    n, mean, var : the merged statistics (same shapes).
    """
    n_b, mean_b = weighted_mean(images, weights, shape_hw=n_a.shape)
    m2_b = np.zeros_like(mean_a)
    for im, w in zip(images, weights):
        m2_b += ((im - mean_b) ** 2) * w[..., None]
    n = n_a + n_b
    nn = np.maximum(n, 1)[..., None]
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b[..., None] / nn)
    m2 = var_a * n_a[..., None] + m2_b + delta**2 * (n_a * n_b)[..., None] / nn
    var = m2 / nn
    return n.astype(np.float32), mean.astype(np.float32), var.astype(np.float32)


def spread(
    mean: np.ndarray,
    var: np.ndarray,
    *,
    abs_floor: float,
    rel_floor: float,
    grad_px: float,
    floor_weight: float = 1.0,
) -> np.ndarray:
    """Per-pixel, per-channel spread ``sqrt(var' + w (abs² + (rel·mean)²) + (grad_px·|∇mean|)²)``.

    Parameters
    ----------
    mean, var : ndarray, shape (H, W, 3), float32
        Per-pixel mean (0-255) and variance of the good images.
    abs_floor : float, keyword-only
        Absolute spread floor in grey levels.
    rel_floor : float, keyword-only
        Spread floor as a fraction of the mean.
    grad_px : float, keyword-only
        Tolerated misregistration in px; multiplies the gradient magnitude (grey levels / px,
        central differences via Sobel / 8).
    floor_weight : float, keyword-only
        ``w``, the two floors' weight in (0, 1] (:attr:`AnomalyConfig.floor_prior_n`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        Spread in grey levels (> 0).
    """
    gx = cv2.Sobel(mean, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(mean, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    g2 = gx * gx + gy * gy
    # A misregistration of grad_px moves a pixel onto a neighbour: take the local max of the
    # gradient so both sides of an edge are tolerant.
    g2 = cv2.dilate(g2, np.ones((3, 3), np.uint8))
    # A per-pixel variance from a handful of captures is itself noisy (relative error
    # ~ sqrt(2 / (n - 1))); pooling it over a small neighbourhood and keeping the larger
    # value stops under-estimated pixels from dominating the max-score.
    edge = (grad_px**2) * g2
    res = np.maximum(var - edge, 0.0)
    var = np.maximum(var, cv2.GaussianBlur(res, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT))
    s2 = var + np.float32(floor_weight) * (abs_floor**2 + (rel_floor * mean) ** 2) + edge
    return np.sqrt(s2).astype(np.float32)


def tolerance_band(mean: np.ndarray, *, shift_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Local min and max of the golden mean over a (2 shift_px + 1)² window.

    A unit misregistered by up to ``shift_px`` px still lies inside ``[lo, hi]`` at every
    pixel (grey-level erosion/dilation; the tolerance band of template matching used in
    PCB inspection, cf. Moganti et al., CVIU 63(2) 1996, doi:10.1006/cviu.1996.0020).

    Returns
    -------
    lo, hi : ndarray, shape (H, W, 3), float32
    """
    if shift_px <= 0:
        return mean, mean
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shift_px + 1, 2 * shift_px + 1))
    return cv2.erode(mean, k, borderType=cv2.BORDER_REFLECT), cv2.dilate(mean, k, borderType=cv2.BORDER_REFLECT)


def deviation_map(
    unit: np.ndarray, mid: np.ndarray, half: np.ndarray, inv_spread: np.ndarray, gain: np.ndarray
) -> np.ndarray:
    """Per-pixel z-like deviation ``max_c dist(u_c / g_c, [lo_c, hi_c]) / spread_c``.

    The band is passed as centre ``mid = (lo + hi) / 2`` and half-width ``half = (hi - lo) / 2``
    so that ``dist = max(|u - mid| - half, 0)``; with ``half = 0`` this is HALCON's
    ``|u - mean| / spread``.

    Parameters
    ----------
    unit : ndarray, shape (h, w, 3), float32
        Prepared unit image (0-255).
    mid, half : ndarray, shape (h, w, 3), float32
        Centre and half-width of the golden tolerance band (:func:`tolerance_band`).
    inv_spread : ndarray, shape (h, w, 3), float32
        1 / spread (0 where the golden has no valid sample).
    gain : ndarray, shape (3,), float32
        Per-channel gain of the unit against the golden (from :func:`robust_gain`).

    Returns
    -------
    ndarray, shape (h, w), float32, >= 0
    """
    inv_g = 1.0 / np.asarray(gain, np.float64)
    d = cv2.multiply(unit, (float(inv_g[0]), float(inv_g[1]), float(inv_g[2]), 0.0))
    cv2.absdiff(d, mid, dst=d)
    cv2.subtract(d, half, dst=d)
    cv2.multiply(d, inv_spread, dst=d)
    c0, c1, c2 = cv2.split(d)
    m = cv2.max(cv2.max(c0, c1), c2)
    return cv2.max(m, 0.0)
