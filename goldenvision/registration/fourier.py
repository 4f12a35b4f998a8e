"""Coarse alignment without keypoints: Fourier-Mellin and a scale search.

Rotation and scale from the log-polar phase correlation of the high-passed magnitude spectra,
then the shift by phase correlation (Reddy & Chatterji 1996, doi:10.1109/83.506761), for
low-texture and repetitive parts; a search over a log-spaced scale grid at Fourier-Mellin's
rotations for partial (zoomed or shifted) views, where the whole-spectrum scale goes wrong.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from ._base import _FM_RADIUS, _FM_ROT_PEAKS, _FM_SEARCH_STEP, _FM_SEARCH_TOP, _FM_SIZE, _SCALE_RANGE, _scale_mat
from .model import RegistrationModel
from .refine import _coarse_ncc

def _highpass_logpolar(img: np.ndarray) -> np.ndarray:
    """Log-polar map of the high-passed, centred magnitude spectrum (Reddy & Chatterji 1996)."""
    p = _FM_SIZE
    f = np.zeros((p, p), np.float32)
    h, w = img.shape
    sc = p / max(h, w)
    small = cv2.resize(img, (max(1, round(w * sc)), max(1, round(h * sc))), interpolation=cv2.INTER_AREA).astype(np.float32)
    small -= small.mean()
    win = cv2.createHanningWindow((small.shape[1], small.shape[0]), cv2.CV_32F)
    f[: small.shape[0], : small.shape[1]] = small * win
    mag = np.abs(np.fft.fftshift(np.fft.fft2(f))).astype(np.float32)
    yy, xx = np.meshgrid(np.linspace(-0.5, 0.5, p, endpoint=False), np.linspace(-0.5, 0.5, p, endpoint=False), indexing="ij")
    cc = np.cos(np.pi * yy) * np.cos(np.pi * xx)
    mag = np.log1p(mag) * ((1.0 - cc) * (2.0 - cc)).astype(np.float32)
    # band up to half Nyquist: the highest frequencies carry the pixel grid's own axes
    return cv2.warpPolar(mag, (p, p), (p / 2, p / 2), _FM_RADIUS * p, cv2.WARP_POLAR_LOG | cv2.INTER_LINEAR)



def _fm_inputs(model: RegistrationModel, mpyr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(reference at the coarse level with the outside of the mask at its mean, moving level, k, m)."""
    k = model.coarse_level_
    ref = model.coarse_.astype(np.float32)
    refm = np.where(model.coarse_mask_, ref, ref[model.coarse_mask_].mean() if model.coarse_mask_.any() else 0)
    m = min(k, len(mpyr) - 1)
    return refm.astype(np.float32), mpyr[m].astype(np.float32), k, m



@functools.lru_cache(maxsize=8)
def _hanning(h: int, w: int) -> np.ndarray:
    """(h, w) float64 Hanning window (cached: the scale search correlates ~60 times per unit)."""
    win = cv2.createHanningWindow((w, h), cv2.CV_64F)
    win.flags.writeable = False
    return win



def _similarity_phase(refm: np.ndarray, mov: np.ndarray, k: int, m: int, angle_deg: float, s_level: float
                      ) -> tuple[float, np.ndarray]:
    """Rotate/scale the moving level about its centre onto the reference's, then phase-correlate
    for the shift: (peak response, moving full px -> reference full px homography)."""
    th = math.radians(angle_deg)
    rs = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]) * s_level
    cref = np.array([(refm.shape[1] - 1) / 2, (refm.shape[0] - 1) / 2])
    cm = np.array([(mov.shape[1] - 1) / 2, (mov.shape[0] - 1) / 2])
    hs = np.eye(3)
    hs[:2, :2] = rs
    hs[:2, 2] = cref - rs @ cm
    warped = cv2.warpPerspective(mov, hs, (refm.shape[1], refm.shape[0]), borderValue=float(mov.mean()))
    (sx, sy), resp = cv2.phaseCorrelate(refm.astype(np.float64), warped.astype(np.float64), _hanning(*refm.shape))
    t = np.eye(3)
    t[:2, 2] = [-sx, -sy]
    h = _scale_mat(k) @ (t @ hs) @ _scale_mat(-m)
    return float(resp), h / h[2, 2]



def _fm_candidates(model: RegistrationModel, mpyr: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """Similarity candidates (moving full px -> reference full px) by Fourier-Mellin + phase
    correlation, and rotations (degrees) for the scale search: the two the candidates use, then
    those of the next log-polar correlation peaks."""
    refm, mov, k, m = _fm_inputs(model, mpyr)
    lp_r = _highpass_logpolar(refm)
    lp_m = _highpass_logpolar(mov)
    (dx, dy), _ = cv2.phaseCorrelate(lp_r.astype(np.float64), lp_m.astype(np.float64))
    p = _FM_SIZE
    klog = p / math.log(_FM_RADIUS * p)
    # spectra: rotation of the image rotates the spectrum; scaling by s shrinks it by 1/s
    rscale_ref = p / max(refm.shape)
    rscale_mov = p / max(mov.shape)
    s_mov_to_ref = math.exp(dx / klog) * (rscale_mov / rscale_ref)  # in coarse-level px
    ang = 360.0 * dy / p
    # the spectrum's rotation is the image's rotation (sign: warpPolar's angle runs clockwise
    # in image axes); the magnitude spectrum is 180-degree periodic, so both are tried
    angles = [-ang, -ang + 180.0]
    hs = [_similarity_phase(refm, mov, k, m, a, s_mov_to_ref)[1] for a in angles]
    # further rotations: the next peaks of the log-polar correlation (on binarised or partly
    # visible parts the highest peak is often the pixel grid's or a wrong one)
    for dy_k in _correlation_peaks(lp_r, lp_m, _FM_ROT_PEAKS):
        a = -360.0 * dy_k / p
        for b in (a, a + 180.0):
            if all(abs((b - c + 180.0) % 360.0 - 180.0) > 2.0 for c in angles):
                angles.append(b)
    return hs, angles



def _correlation_peaks(a: np.ndarray, b: np.ndarray, n: int) -> list[int]:
    """Row shifts (signed, px) of the ``n`` highest local maxima of the phase correlation of
    ``b`` against ``a`` (same convention as ``cv2.phaseCorrelate``: ``b(x) = a(x - d)`` peaks at d)."""
    from scipy import ndimage

    fa = np.fft.fft2(a.astype(np.float64))
    fb = np.fft.fft2(b.astype(np.float64))
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-12
    c = np.real(np.fft.ifft2(r))
    loc = c == ndimage.maximum_filter(c, size=5, mode="wrap")
    ys, xs = np.nonzero(loc)
    order = np.argsort(-c[ys, xs])
    p = c.shape[0]
    out: list[int] = []
    for j in order:
        dy = int(ys[j]) - p if ys[j] > p / 2 else int(ys[j])
        if all(abs(dy - q) > 1 for q in out):
            out.append(dy)
        if len(out) == n:
            break
    return out



def _scale_search_candidates(model: RegistrationModel, mpyr: list[np.ndarray], angles: list[float],
                             top: int = _FM_SEARCH_TOP) -> list[np.ndarray]:
    """Candidates for the Fourier-Mellin rotations over a log-spaced scale grid (``_SCALE_RANGE``,
    ratio ``_FM_SEARCH_STEP``), best phase-correlation peaks first.

    Fourier-Mellin's scale comes from the whole spectrum and goes wrong when the unit shows only
    part of the reference (a zoomed or shifted view); its rotation survives that far better. The
    shift's phase-correlation peak is sharp only at about the right scale, so its height ranks
    the grid (about 60 small phase correlations at the coarse level, ~25 ms); the best
    ``3 top`` are re-ranked by the correlation over the mask at the coarse level."""
    refm, mov, k, m = _fm_inputs(model, mpyr)
    lo, hi = _SCALE_RANGE
    n = int(math.ceil(math.log(hi / lo) / math.log(_FM_SEARCH_STEP)))
    level = 2.0**m / 2.0**k
    found = [_similarity_phase(refm, mov, k, m, a, lo * _FM_SEARCH_STEP**i * level) for a in angles for i in range(n + 1)]
    found.sort(key=lambda c: -c[0])
    # the peak height is a noisy ranking: re-rank the best few by the correlation over the mask
    shortlist = [(_coarse_ncc(model, mpyr, h), resp, h) for resp, h in found[: 3 * top]]
    shortlist.sort(key=lambda c: (-c[0], -c[1]))
    return [h for _, _, h in shortlist[:top]]
