"""Structure residual: what no small local displacement of the golden explains (internal).

The variation model (:mod:`.variation`) tolerates misregistration twice over, per pixel: a
min/max band over ``±shift_px`` and a spread term ``grad_px · |∇mean|``. On a structure only a
few px across (a chip of 5 x 6 px at ~5 px/mm), every pixel lies in the blurred edge of its
neighbours, so the band spans dark..bright and the edge term is tens of grey levels at every
pixel: a whole part gone or moved is "explained" as misregistration, because each pixel may
pick its own shift.

A genuine sub-pixel misregistration is one small displacement ``δ`` shared by a neighbourhood,
and predicts a signed difference ``u - E ≈ -∇E · δ`` (first-order Taylor; Lucas & Kanade,
IJCAI 1981). So per pixel the displacement that best explains the difference over a Gaussian
window (weighted least squares over the three channels, each whitened by its statistical
spread, with a small ridge so flat or one-directional windows stay near 0; the aperture
problem) is bounded to ``|δ| <= max_shift_px`` and removed, and the residual is judged against
the statistical spread alone (no edge term, no band). Only the Taylor remainder, about
``½ |∇²E| |δ|²``, is tolerated on top. A missing or moved part does not fit one small ``δ``
with the surrounding pads and mask, and keeps its contrast; a unit shifted by a fraction of a
pixel, noisier, or re-toned (the caller's gain field) does not.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["structure_residual"]

#: Ridge of the 2 x 2 normal equations, relative to the window's mean whitened gradient energy
#: of a clear edge (1 grey level / px at spread 1): keeps ``δ`` finite where the golden is flat.
_RIDGE = 1e-2


def _grad(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx, gy


def structure_residual(
    golden: np.ndarray,
    unit: np.ndarray,
    inv_spread: np.ndarray,
    *,
    window_sigma_px: float,
    max_shift_px: float,
) -> np.ndarray:
    """Per-pixel z of the unit after the locally best small displacement of the golden.

    Parameters
    ----------
    golden : ndarray, shape (h, w, 3), float32
        Prepared golden mean in the unit's colours (0-255).
    unit : ndarray, shape (h, w, 3), float32
        Prepared unit (0-255).
    inv_spread : ndarray, shape (h, w, 3), float32
        1 / statistical spread per channel (no misregistration term); 0 = no data.
    window_sigma_px : float, keyword-only
        Gaussian sigma (px) of the neighbourhood that shares one displacement.
    max_shift_px : float, keyword-only
        Largest displacement (px) accepted as misregistration.

    Returns
    -------
    ndarray, shape (h, w), float32, >= 0
        ``max_c max(|u - E(x + δ)| - ½ |∇²E| |δ|², 0) / spread``, with ``E(x + δ)`` to first order.
    """
    gx, gy = _grad(golden)
    d = unit - golden
    w = inv_spread * inv_spread
    wx, wy = gx * w, gy * w
    terms = np.stack([(wx * gx).sum(2), (wx * gy).sum(2), (wy * gy).sum(2), (wx * d).sum(2), (wy * d).sum(2)], axis=-1)
    s = float(window_sigma_px)
    if s > 0:
        # five channels in one call (OpenCV filters up to 4 channels at once per plane group)
        terms = np.dstack([cv2.GaussianBlur(terms[..., :3], (0, 0), s, borderType=cv2.BORDER_REFLECT),
                           cv2.GaussianBlur(np.ascontiguousarray(terms[..., 3:]), (0, 0), s, borderType=cv2.BORDER_REFLECT)])
    a11, a12, a22, b1, b2 = (terms[..., k] for k in range(5))
    ridge = np.float32(_RIDGE)
    a11 = a11 + ridge
    a22 = a22 + ridge
    det = a11 * a22 - a12 * a12
    inv_det = np.float32(1.0) / np.maximum(det, np.float32(1e-12))
    # u - E ≈ -∇E · δ  ->  δ = -A⁻¹ b
    dx = -(a22 * b1 - a12 * b2) * inv_det
    dy = -(a11 * b2 - a12 * b1) * inv_det
    r = np.sqrt(dx * dx + dy * dy)
    lim = np.float32(max_shift_px)
    f = np.where(r > lim, lim / np.maximum(r, np.float32(1e-6)), np.float32(1.0)).astype(np.float32)
    dx *= f
    dy *= f
    r2 = (dx * dx + dy * dy)[..., None]
    e = d + gx * dx[..., None] + gy * dy[..., None]
    lap = cv2.Laplacian(golden, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    e = np.abs(e) - np.float32(0.5) * np.abs(lap) * r2
    np.maximum(e, 0.0, out=e)
    e *= inv_spread
    return e.max(axis=2).astype(np.float32)
