"""Tolerance band taken on the scene before the comparison's blur (internal).

The variation model tolerates a misregistration of ``shift_px`` px through a min/max band over
the *blurred* golden mean (:func:`.variation.tolerance_band`). That band is right when a whole
neighbourhood moves as one (a wide edge shifts), but parts of a product also move against each
other from unit to unit by as much: a chain's teeth against the tape's end or the slider (the
zipper's phase along its tape, ±1.4 px), a component against its neighbour, a fold against a
seam. The two edges of a thin gap (or ridge) then move apart or together, and once the blur
has merged the two edges, a gap 1.4 px wider is *darker* than any blurred golden pixel within
``shift_px``: the band over the blurred mean cannot hold it.

What the band should hold is every image of the golden scene ``f`` whose points move by up to
``s`` px each, seen through the blur ``B``: ``B * (f o phi)`` with
``|phi - id| <= s``. Since ``f o phi >= erode_s f`` pointwise and ``B >= 0``,
``B * (erode_s f) <= B * (f o phi)``, and likewise with the dilation above: the grey-level
erosion / dilation (Serra, *Image Analysis and Mathematical Morphology*, 1982) must be taken
*before* the blur. And ``B * (erode_s f) <= erode_s (B * f)`` (the minimum of an average is at
least the average of the minima), so the band over the blurred mean is the tighter of the two,
and too tight exactly at structures thinner than the blur. The photo's own blur is already in
the capture, so :func:`scene_envelope` erodes / dilates the capture by ``s`` (the model's
``scene_shift_px``) and then applies the comparison's blur (``blur_sigma_px``): still tighter
than the true bound at the thinnest structures, but the zipper's gap comes within reach
(hardware hand-held, the gap between the tape's end and the first tooth 1.4 px wider: 72 grey
levels on the unit, a band floor of 97 on the blurred mean, 87 with ``s`` = 0.75 px).

The model uses the envelope to *widen* thin structures only (``AnomalyModel._env_band``): where the
golden is darker than its surroundings (a gap, a stitch) the lower envelope (darker, wider), where
brighter the upper one; a thin structure may not fade away by narrowing (a skipped stitch, a
missing thin print line is the defect, not a motion: the wallet demo's skipped stitch fell from
1.18 to 0.95 of the threshold when both sides were taken).

The band used is the union of both (:func:`combine_band`): never tighter than before. Its price
is what a relative motion of ``s`` px may hide: a dark defect that only widens a thin dark gap
by up to ``s`` px on each side is within the band; a small spot touching a thin gap loses the part of its
contrast that lies within ``s`` of the gap. Wide structures are unchanged (both bands agree there).
Texture zones (low-passed, :mod:`.zone_variation`) keep the band of their low-passed mean.
"""

from __future__ import annotations

import cv2
import numpy as np


__all__ = ["scene_envelope", "combine_band"]


def scene_envelope(image: np.ndarray, *, shift_px: float, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper envelope of an image under local motions of up to ``shift_px`` px.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB capture (or unit) in golden px, before the comparison's blur.
    shift_px : float, keyword-only
        Largest motion of any scene point, px: the erosion / dilation is the minimum / maximum
        of the image and its copies shifted by ``shift_px`` in 8 directions (bilinear, so a
        sub-pixel radius is a sub-pixel motion).
    sigma_px : float, keyword-only
        The comparison's Gaussian blur (:func:`.variation.prepare`), px.

    Returns
    -------
    lo, hi : ndarray, shape (H, W, 3), float32, range [0, 255]
        The eroded and the dilated image, each blurred as ``prepare`` blurs, less the noise's
        bias (the median of ``prepare(image) - lo`` and of ``hi - prepare(image)`` over the flatter
        half of the image, per channel: there the scene's envelope is the image itself), and never
        inside ``prepare(image)``; both equal to ``prepare(image)`` when ``shift_px <= 0``.
    """
    f = np.asarray(image, np.float32)
    lo, hi = f.copy(), f.copy()
    if shift_px > 0:
        h, w = f.shape[:2]
        for a in np.arange(8) * (np.pi / 4):
            m = np.array([[1.0, 0.0, shift_px * np.cos(a)], [0.0, 1.0, shift_px * np.sin(a)]], np.float32)
            moved = np.asarray(cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
            np.minimum(lo, moved, out=lo)
            np.maximum(hi, moved, out=hi)
    if sigma_px > 0:
        lo = np.asarray(cv2.GaussianBlur(lo, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT), np.float32)
        hi = np.asarray(cv2.GaussianBlur(hi, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT), np.float32)
    if shift_px > 0:
        # The minimum of noisy samples is biased low (the maximum high) by about the noise itself,
        # everywhere, not only at thin structures: on flat ground (where the scene's envelope is the
        # ground itself) that bias is measured and taken back, per channel.
        p = f if sigma_px <= 0 else np.asarray(cv2.GaussianBlur(f, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT), np.float32)
        step = max(1, int(np.sqrt(f.shape[0] * f.shape[1] / 50_000)))
        ps = p[::step, ::step]
        grey = ps.mean(axis=2)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        g2 = gx * gx + gy * gy
        flat = g2 <= np.percentile(g2, 50)
        if flat.sum() >= 16:
            b_lo = np.median((ps - lo[::step, ::step])[flat], axis=0).astype(np.float32)
            b_hi = np.median((hi[::step, ::step] - ps)[flat], axis=0).astype(np.float32)
            lo = np.minimum(lo + np.maximum(b_lo, 0), p)
            hi = np.maximum(hi - np.maximum(b_hi, 0), p)
    return lo, hi


def combine_band(lo: np.ndarray, hi: np.ndarray, env_lo: np.ndarray | None,
                 env_hi: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The union of the band over the blurred mean ``[lo, hi]`` and the scene envelope
    ``[env_lo, env_hi]`` (same shapes, or broadcastable), as ``(mid, half)`` float32."""
    if env_lo is not None and env_hi is not None:
        lo = np.minimum(lo, env_lo)
        hi = np.maximum(hi, env_hi)
    return ((lo + hi) * np.float32(0.5)).astype(np.float32), ((hi - lo) * np.float32(0.5)).astype(np.float32)
