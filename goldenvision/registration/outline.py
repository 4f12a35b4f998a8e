"""Coarse alignment by the product's silhouette: for what keypoints and correlation cannot pin.

A part lying at any angle on a plain ground, a natural product whose units differ a little in
outline, a soft good: the product's *silhouette* still fixes where it is, how it is turned and
how large it appears. :func:`outline_register` separates the product from the ground (the
ground's colour is read off the photo's border), then places the unit onto the golden by a
similarity (centroid, turn, scale from the area), chosen over the full circle of rotation and
its mirror-free turns by the overlap of the silhouettes and the correlation of their content.

The result is coarse by construction: it never claims the 0.2 px of :func:`register`. Its
``rms_px`` is the RMS distance between the two outlines after the placement (golden px): the
golden's own outline variation, a stated uncertainty that the anomaly stage's shift tolerance
and a position-tolerant comparison must absorb. Sealing uses it only as the fallback for
captures that cannot be aligned precisely (``registration: auto``), and says so.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..results import RegistrationResult
from .refusal import RefusalCode

if TYPE_CHECKING:
    from .model import RegistrationModel

__all__ = ["silhouette", "outline_register", "silhouette_gray_weights", "silhouette_model"]

#: band (of the image's diagonal) left out on either side of the product's silhouette when its
#: colours and its ground's are sampled for the silhouette gray (:func:`silhouette_gray_weights`):
#: the silhouette's own precision and the outline's blur
SILHOUETTE_BAND = 0.01

_WORK_PX = 256  # long side of the working images


def _small(img: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    f = min(1.0, _WORK_PX / max(h, w))
    if f < 1.0:
        img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return img, f


def silhouette(rgb: np.ndarray, min_share: float = 0.0) -> np.ndarray | None:
    """The product's pixels (bool, same size), or None when no product stands out of the ground.

    The ground is the median colour of the photo's outer border (Lab); a pixel belongs to the
    product when its colour distance from the ground passes Otsu's threshold of that distance.
    The largest connected part (holes filled) is the product. None when it touches most of
    the border or covers under 2 % / over 90 % of the frame, or holds less than ``min_share`` of
    all the pixels that stand out (a scene of many separate pieces: which is the product?).
    """
    small, f = _small(rgb if rgb.ndim == 3 else cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB))
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    b = max(2, min(h, w) // 40)
    ring = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3),
                           lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    ground = np.median(ring, axis=0)
    spread = np.median(np.abs(ring - ground), axis=0) * 1.4826 + 1.0
    dist = np.sqrt((((lab - ground) / spread) ** 2).sum(-1))
    dist = cv2.GaussianBlur(dist, (0, 0), 1.0)
    d8 = np.clip(dist * (255.0 / max(float(np.percentile(dist, 99.5)), 1e-6)), 0, 255).astype(np.uint8)
    t, fg = cv2.threshold(d8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if t <= 0:
        return None
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k)
    n, lbl, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n < 2:
        return None
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if min_share > 0 and stats[big, cv2.CC_STAT_AREA] < min_share * float(stats[1:, cv2.CC_STAT_AREA].sum()):
        return None
    part = (lbl == big).astype(np.uint8)
    contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(part)
    cv2.drawContours(filled, contours, -1, 1, -1)
    share = float(filled.mean())
    border = np.concatenate([filled[0], filled[-1], filled[:, 0], filled[:, -1]])
    if share < 0.02 or share > 0.9 or float(border.mean()) > 0.5:
        return None
    if f < 1.0:
        filled = cv2.resize(filled, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    return filled.astype(bool)


def _pose(mask: np.ndarray) -> tuple[float, float, float, float, float]:
    """(cx, cy, angle of the major axis in rad, area, elongation in [0, 1])."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    area = m["m00"]
    cx, cy = m["m10"] / area, m["m01"] / area
    mu20, mu02, mu11 = m["mu20"] / area, m["mu02"] / area, m["mu11"] / area
    theta = 0.5 * math.atan2(2 * mu11, mu20 - mu02)
    d = math.sqrt(4 * mu11 ** 2 + (mu20 - mu02) ** 2)
    l1, l2 = (mu20 + mu02 + d) / 2, (mu20 + mu02 - d) / 2
    return cx, cy, theta, area, (1.0 - l2 / l1) if l1 > 0 else 0.0


def _similarity(src: tuple[float, float], dst: tuple[float, float], angle: float, scale: float) -> np.ndarray:
    """3x3 mapping src px -> dst px: turn by ``angle`` and scale about src, then move to dst."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, dst[0] - c * src[0] + s * src[1]],
                     [s, c, dst[1] - s * src[0] - c * src[1]],
                     [0.0, 0.0, 1.0]])


def _score(h: np.ndarray, ref_m: np.ndarray, ref_g: np.ndarray, mov_m: np.ndarray, mov_g: np.ndarray) -> float:
    """Silhouette IoU plus content correlation inside the overlap (both in [0, 1])."""
    hh, ww = ref_m.shape
    wm = cv2.warpPerspective(mov_m.astype(np.uint8), h, (ww, hh), flags=cv2.INTER_NEAREST) > 0
    inter = float((wm & ref_m).sum())
    union = float((wm | ref_m).sum())
    iou = inter / union if union else 0.0
    both = wm & ref_m
    if both.sum() < 50:
        return iou
    wg = cv2.warpPerspective(mov_g, h, (ww, hh), flags=cv2.INTER_LINEAR)
    a, b = ref_g[both], wg[both]
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    ncc = float((a * b).sum() / den) if den > 0 else 0.0
    return iou + 0.5 * max(ncc, 0.0)


def _outline_rms(h: np.ndarray, ref_m: np.ndarray, mov_m: np.ndarray) -> float:
    """RMS distance (px of ``ref_m``) from the placed unit's outline to the golden's."""
    ref_edge = cv2.morphologyEx(ref_m.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    dt = cv2.distanceTransform(1 - ref_edge, cv2.DIST_L2, 3)
    cs, _ = cv2.findContours(mov_m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not cs:
        return math.inf
    pts = np.concatenate([c.reshape(-1, 2) for c in cs]).astype(np.float64)
    q = cv2.perspectiveTransform(pts[None], h)[0]
    hh, ww = ref_m.shape
    x = np.clip(np.round(q[:, 0]).astype(int), 0, ww - 1)
    y = np.clip(np.round(q[:, 1]).astype(int), 0, hh - 1)
    return float(np.sqrt(np.mean(dt[y, x] ** 2)))


def outline_register(reference: np.ndarray, moving: np.ndarray, *,
                     ref_mask: np.ndarray | None = None) -> RegistrationResult:
    """Place ``moving`` onto ``reference`` by their silhouettes (see the module's text).

    Returns a :class:`RegistrationResult` with ``method="outline"``; ``ok`` False with a
    reason when either photo shows no product apart from its ground, or when the placed
    silhouettes overlap by under 60 % (not the same kind of product).
    """
    made = lambda **kw: RegistrationResult(reference_shape_hw=reference.shape[:2], method="outline", **kw)  # noqa: E731
    ref_s, fr = _small(reference)
    mov_s, fm = _small(moving)
    rm = silhouette(ref_s) if ref_mask is None else cv2.resize(
        ref_mask.astype(np.uint8), (ref_s.shape[1], ref_s.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    mm = silhouette(mov_s)
    if rm is None or mm is None:
        which = "golden" if rm is None else "unit"
        return made(homography=np.eye(3), ok=False, rms_px=math.inf, refusal=RefusalCode.BLANK,
                    reason=f"outline: the {which} photo shows no product apart from a plain ground "
                           "(the ground must frame the product on every side)")
    gray = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32) if im.ndim == 3 else im.astype(np.float32)  # noqa: E731
    rg, mg = gray(ref_s), gray(mov_s)
    rcx, rcy, rth, ra, relong = _pose(rm)
    mcx, mcy, mth, ma, melong = _pose(mm)
    scale = math.sqrt(ra / ma)
    base = rth - mth
    # the major axis fixes the turn up to a half turn; a round silhouette fixes nothing: search it all
    angles = [base, base + math.pi] if min(relong, melong) > 0.15 else [k * math.pi / 18 for k in range(36)]
    scored = [(_score(_similarity((mcx, mcy), (rcx, rcy), a, scale), rm, rg, mm, mg), a) for a in angles]
    best, angle = max(scored)
    # refine the turn around the best (2 degree steps, then 0.5)
    for step in (math.radians(4), math.radians(1), math.radians(0.25)):
        for a in (angle - step, angle + step):
            s = _score(_similarity((mcx, mcy), (rcx, rcy), a, scale), rm, rg, mm, mg)
            if s > best:
                best, angle = s, a
    h_small = _similarity((mcx, mcy), (rcx, rcy), angle, scale)
    # back to full-size px: moving full -> moving small -> reference small -> reference full
    h = np.diag([1 / fr, 1 / fr, 1.0]) @ h_small @ np.diag([fm, fm, 1.0])
    wm = cv2.warpPerspective(mm.astype(np.uint8), h_small, (rm.shape[1], rm.shape[0]), flags=cv2.INTER_NEAREST) > 0
    iou = float((wm & rm).sum()) / max(1.0, float((wm | rm).sum()))
    rms = _outline_rms(h_small, rm, mm) / fr
    if iou < 0.6:
        return made(homography=h, ok=False, rms_px=math.inf, refusal=RefusalCode.UNDETERMINED,
                    reason=f"outline: the silhouettes overlap by {iou:.0%} at best (under 60 %): not the same product, "
                           "or the product is not whole in the photo")
    return made(homography=h, ok=True, rms_px=rms, inliers=0, confidence=iou)


def silhouette_gray_weights(rgb: np.ndarray) -> tuple[float, float, float] | None:
    """RGB weights of the gray in which the product of ``rgb`` ((H, W, 3) uint8) stands out of a
    plain ground clearly better than in the luminance, or None (no silhouette, or the luminance
    does as well: :func:`goldenvision.registration._base._silhouette_gray_weights`).

    A product whose surface carries a texture of its own (every oak board its grain, every hide
    its leather) shows that texture in the luminance as strongly as its outline, and one unit's
    texture is not another's; its colour against its ground shows the outline, the holes the
    ground shows through and a print of another colour, which every unit shares. The product and
    ground px are sampled :data:`SILHOUETTE_BAND` of the diagonal clear of the silhouette's edge."""
    from ._base import _silhouette_gray_weights

    sil = silhouette(rgb) if rgb.ndim == 3 else None
    if sil is None:
        return None
    grow = max(1, int(round(SILHOUETTE_BAND * float(np.hypot(*rgb.shape[:2])))))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    s8 = sil.astype(np.uint8)
    return _silhouette_gray_weights(rgb, cv2.erode(s8, k) > 0, cv2.dilate(s8, k) == 0)


def silhouette_model(reference: np.ndarray, mask: np.ndarray | None,
                     own_weights: tuple[float, float, float] | None) -> "RegistrationModel | None":
    """The registration model of ``reference`` on the gray its silhouette shows in
    (:func:`silhouette_gray_weights`), fitted with ``mask``; None when there is no such gray or it
    is ``own_weights``, the gray the caller's model already aligns on. Sealing aligns golden
    captures of other units on it, the Inspector units (``Inspector._silhouette_model``)."""
    from .model import RegistrationModel

    weights = silhouette_gray_weights(reference)
    if weights is None or weights == own_weights:
        return None
    return RegistrationModel.fit(reference, mask=mask, gray_weights=weights)
