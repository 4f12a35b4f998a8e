"""Round elements turned in their seat: found in the golden, undone on a unit where it deviates (internal).

A stone in its bezel, a rivet, a screw head or a snap set in a polished or plated part sits at
any rotation about its own axis: nothing in production fixes it, and the golden captures, one
physical unit re-photographed, show a single rotation. A faceted stone's crown (light and dark
facets), a screw's slot or a rivet's stamping then differ from the golden by a rearrangement
of the element's own appearance, far beyond the variation model's ±``shift_px`` tolerance band
(a stone of Ø 6 mm turned by 20° moves its outer facets by 1 mm). On the zoo's ``jewellery``
pendant every flagged good unit was the centre stone's facets (issue 13).

At fit time the golden mean of each zone whose ``defect_type`` is in
:data:`ROTATING_DEFECT_TYPES` is searched for round elements (:func:`find_round_elements`):
circles of the Hough gradient transform (Ballard 1981; OpenCV's ``HOUGH_GRADIENT``) kept only
when the golden's ring just outside them is uniform (a seat, a bezel, a plain surface round the
element) and differs from the disc inside: then turning the disc about its centre changes
nothing outside it. A rounded corner or an arc of an outline does not have such a ring.

At score time, only where the first pass reaches the threshold inside such a disc, the unit's
disc is turned back (:func:`rotation_field`): the angle over a full turn minimising the disc's
*truncated* grey difference to the golden (as :mod:`.local_shift`: a defect costs the truncation
at every angle, so it cannot steer the angle) is kept when it lowers the cost at 0° by at least
``min_gain``. The unit is resampled along the resulting displacement field and scored again; the
golden and the thresholds are unchanged, so what no rotation explains (an empty seat, a chipped
stone, a scratch, a wrong stone colour) keeps its full contrast.

Known limit: in such zones a round element whose rotation *is* the defect (a dial's index, a
keyed connector) is not flagged for its rotation; give it its own zone of another type.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ROTATING_DEFECT_TYPES", "RoundElement", "find_round_elements", "rotation_field"]

#: Zone defect types whose round elements may sit at any rotation in their seat (stones in a
#: setting, rivets, screw heads and snaps in a plated or polished part).
ROTATING_DEFECT_TYPES = ("plating",)

#: (centre x px, centre y px, radius px) in golden px.
RoundElement = tuple[float, float, float]

#: Angles sampled on the rings of the uniformity check.
_N_RING = 72
#: Most Hough circles checked per zone (strongest first; bounds the fit's cost on a busy surface).
_MAX_CANDIDATES = 32
#: Most disc pixels the angle search compares (a larger disc is subsampled; remap maps < 32767 wide).
_MAX_SAMPLES = 8000


def _ring(gray: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray | None:
    """Grey values (bilinear) at ``_N_RING`` angles on the circle (cx, cy, r); None when off the image."""
    h, w = gray.shape
    t = np.linspace(0, 2 * np.pi, _N_RING, endpoint=False)
    xs, ys = cx + r * np.cos(t), cy + r * np.sin(t)
    if xs.min() < 0 or ys.min() < 0 or xs.max() > w - 1 or ys.max() > h - 1:
        return None
    v = cv2.remap(gray, xs.astype(np.float32)[None], ys.astype(np.float32)[None], cv2.INTER_LINEAR)
    return v.ravel()


def find_round_elements(
    gray: np.ndarray,
    mask: np.ndarray,
    *,
    min_radius_px: float,
    max_radius_px: float,
    ring_px: float = 2.0,
    min_contrast: float = 12.0,
    max_ring_cv: float = 0.25,
) -> list[RoundElement]:
    """Round elements of a zone in the golden: discs whose surrounding ring is uniform.

    Parameters
    ----------
    gray : ndarray, shape (H, W), float32, 0-255
        Golden mean grey, golden px.
    mask : ndarray, shape (H, W), bool
        The zone (and valid golden pixels); a disc and its ring lie inside it.
    min_radius_px, max_radius_px : float, keyword-only
        Radii searched, px.
    ring_px : float, keyword-only
        The ring is checked at ``r + ring_px`` and ``r + 2 ring_px`` (outside the edge's blur).
    min_contrast : float, keyword-only
        Smallest |ring - disc mean| (grey levels): a disc that looks like its surroundings is no element.
    max_ring_cv : float, keyword-only
        Largest spread of the ring (sd over angles) as a fraction of that contrast.

    Returns
    -------
    list of (cx, cy, r)
        Golden px; the disc of radius ``r`` is what turns.
    """
    if max_radius_px < max(min_radius_px, 2.0) or not mask.any():
        return []
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    crop = np.clip(gray[y0:y1, x0:x1], 0, 255).astype(np.uint8)
    found = cv2.HoughCircles(crop, cv2.HOUGH_GRADIENT, dp=1, minDist=max(4.0, min_radius_px),
                             param1=60, param2=20, minRadius=int(np.floor(min_radius_px)),
                             maxRadius=int(np.ceil(max_radius_px)))
    if found is None:
        return []
    inside = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out: list[RoundElement] = []
    for cx, cy, r in found[0][:_MAX_CANDIDATES]:
        cx, cy, r = float(cx) + x0, float(cy) + y0, float(r)
        if any(np.hypot(cx - ox, cy - oy) < max(r, orr) for ox, oy, orr in out):
            continue  # one element, one disc (Hough returns the strongest first)
        ro = r + 2 * ring_px
        iy0, iy1, ix0, ix1 = int(cy - ro), int(np.ceil(cy + ro)) + 1, int(cx - ro), int(np.ceil(cx + ro)) + 1
        if iy0 < 0 or ix0 < 0 or iy1 > mask.shape[0] or ix1 > mask.shape[1]:
            continue
        yy, xx = np.mgrid[iy0:iy1, ix0:ix1]
        rho = np.hypot(xx - cx, yy - cy)
        if not inside[iy0:iy1, ix0:ix1][rho <= ro].all():
            continue
        disc = float(gray[iy0:iy1, ix0:ix1][rho <= max(r - ring_px, 1.0)].mean())
        rings = [_ring(gray, cx, cy, r + k * ring_px) for k in (1, 2)]
        if any(v is None for v in rings):
            continue
        ring = np.concatenate([v for v in rings if v is not None])
        contrast = abs(float(ring.mean()) - disc)
        if contrast >= min_contrast and float(ring.std()) <= max_ring_cv * contrast:
            out.append((cx, cy, r))
    return out


def _turn_costs(cur: np.ndarray, g_disc: np.ndarray, pts: tuple[float, float, np.ndarray, np.ndarray],
                degs: np.ndarray, trunc: float) -> np.ndarray:
    """Mean truncated |unit turned by each angle - golden| over a disc's sample points, shape (len(degs),).

    ``pts`` = (cx, cy, px, py): the centre and the points' offsets from it (px); the unit is sampled
    at ``(cx + cos t px + sin t py, cy - sin t px + cos t py)`` (bilinear), all angles in one remap."""
    cx, cy, px, py = pts
    t = np.deg2rad(np.asarray(degs, np.float64))[:, None]
    mx = (cx + np.cos(t) * px + np.sin(t) * py).astype(np.float32)
    my = (cy - np.sin(t) * px + np.cos(t) * py).astype(np.float32)
    s = cv2.remap(cur, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.minimum(np.abs(s - g_disc[None, :]), np.float32(trunc)).mean(axis=1)


def rotation_field(
    ref: np.ndarray,
    cur: np.ndarray,
    hot: np.ndarray,
    elements: list[RoundElement],
    *,
    trunc: float,
    min_gain: float = 0.2,
    step_deg: float = 3.0,
    taper_px: float = 2.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Displacement field that turns each hot round element of ``cur`` back onto ``ref``.

    Parameters
    ----------
    ref, cur : ndarray, shape (H, W), float32
        Golden and unit grey (same gain), golden px.
    hot : ndarray, shape (H, W), bool
        Pixels where the first-pass map reached the threshold.
    elements : list of (cx, cy, r)
        Round elements (:func:`find_round_elements`), golden px.
    trunc : float
        Truncation of the absolute grey difference in the cost (grey levels).
    min_gain : float
        A rotation is kept when it lowers the disc's cost at 0° by at least this fraction.
    step_deg : float
        Step of the coarse search over a full turn; the best angle is refined to ``step_deg / 6``.
    taper_px : float
        The rotation fades to 0 over this many px outside the disc (the seat's ring is uniform).

    Returns
    -------
    (dx, dy) : two ndarrays, shape (H, W), float32, or None when no element turns.
        ``cur`` resampled at ``(x + dx, y + dy)`` lies on ``ref``.
    """
    h, w = ref.shape
    fx = fy = None
    for cx, cy, r in elements:
        ro = r + taper_px
        x0, y0 = max(0, int(np.floor(cx - ro)) - 1), max(0, int(np.floor(cy - ro)) - 1)
        x1, y1 = min(w, int(np.ceil(cx + ro)) + 2), min(h, int(np.ceil(cy + ro)) + 2)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue  # off the image
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rho = np.hypot(xx - cx, yy - cy)
        disc = rho <= r
        if not (hot[y0:y1, x0:x1] & (rho <= ro)).any() or disc.sum() < 16:
            continue
        # the disc's pixels (at most _MAX_SAMPLES of them), where the unit is sampled turned by each angle
        k = max(1, int(np.ceil(disc.sum() / _MAX_SAMPLES)))
        pts = (float(cx), float(cy), (xx - cx)[disc][::k], (yy - cy)[disc][::k])
        g_disc = ref[y0:y1, x0:x1][disc][::k]
        c0 = float(_turn_costs(cur, g_disc, pts, np.zeros(1), trunc)[0])
        coarse = np.arange(-180.0, 180.0, step_deg)
        best = float(coarse[int(np.argmin(_turn_costs(cur, g_disc, pts, coarse, trunc)))])
        fine = best + np.linspace(-step_deg / 2, step_deg / 2, 7)
        fc = _turn_costs(cur, g_disc, pts, fine, trunc)
        best, cb = float(fine[int(np.argmin(fc))]), float(fc.min())
        if cb > (1.0 - min_gain) * c0:
            continue
        # field of the turn about (cx, cy), fading to 0 between r and r + taper_px
        t = np.deg2rad(best)
        px, py = xx - cx, yy - cy
        # as in the search: the unit is sampled at (cos t px + sin t py, -sin t px + cos t py)
        rx, ry = np.cos(t) * px + np.sin(t) * py, -np.sin(t) * px + np.cos(t) * py
        wgt = np.clip((ro - rho) / max(taper_px, 1e-6), 0.0, 1.0) if taper_px > 0 else disc.astype(np.float32)
        if fx is None or fy is None:
            fx, fy = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        fx[y0:y1, x0:x1] += (wgt * (rx - px)).astype(np.float32)
        fy[y0:y1, x0:x1] += (wgt * (ry - py)).astype(np.float32)
    if fx is None or fy is None:
        return None
    return fx, fy
