"""Find a ColorChecker Classic 24 in a photo and sample its patches.

Search order (:func:`find_colorchecker`):

1. ``"manual"``: when the caller gives the chart's four corners.
2. ``"grid"``: square patches found at full resolution (adaptive thresholds at several
   block sizes, quadrilateral contours), grouped into a regular lattice around each seed
   square and fitted by a homography; the 6 x 4 window and its orientation are those whose
   patches a 3 x 4 affine colour fit maps best onto the reference. Scale-free, so it finds a
   chart of ~200 px in a 6 MP frame amid clutter.
3. ``"colour-checker-detection"``: colour-science's segmentation detector [1]_ on the whole
   frame (it resizes the photo to 1440 px wide, so it needs a chart that fills a good part of
   the frame), then on 9 overlapping half-frame tiles where it misses (seconds per call).

Frames: quadrilateral corners are (x, y) camera px, ordered top-left, top-right,
bottom-right, bottom-left **of the chart** (patch 1 "dark skin" at the top-left, the
neutral row at the bottom), whatever the chart's rotation in the photo.

References
----------
.. [1] colour-checker-detection, Colour Developers, https://github.com/colour-science/colour-checker-detection
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import CalibrationError, ImageError
from .characterisation import colorchecker_reference, xyz_d65_to_lab

__all__ = ["ChartDetection", "find_colorchecker", "sample_patches", "COLS", "ROWS"]

COLS, ROWS = 6, 4


@dataclass(frozen=True, eq=False)
class ChartDetection:
    """A located ColorChecker.

    Attributes
    ----------
    found : bool
    quad_px : ndarray, shape (4, 2), float64, or None
        Corners of the 6 x 4 patch grid in camera px (chart top-left, top-right,
        bottom-right, bottom-left).
    patch_rgb01 : ndarray, shape (24, 3), float64, or None
        Trimmed mean of each patch's inner window, codes / 255, chart order.
    patch_spread : ndarray, shape (24,), or None
        Max over channels of the 10-90 percentile spread in a patch, codes / 255.
    method : str
        ``"manual"``, ``"grid"``, ``"colour-checker-detection"`` or ``"none"``.
    fit_de00 : float
        Mean in-sample ΔE00 of a 3 x 4 affine fit of the patches to the reference (lower:
        more chart-like); NaN when not found.
    reason : str
    """

    found: bool
    quad_px: np.ndarray | None
    patch_rgb01: np.ndarray | None
    patch_spread: np.ndarray | None
    method: str
    fit_de00: float
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "method": self.method, "reason": self.reason,
                "quad_px": None if self.quad_px is None else np.round(self.quad_px, 2).tolist(),
                "fit_de00": None if not math.isfinite(self.fit_de00) else self.fit_de00}


def _grid_to_image(quad: np.ndarray) -> np.ndarray:
    src = np.array([[0, 0], [COLS, 0], [COLS, ROWS], [0, ROWS]], np.float64)
    return cv2.getPerspectiveTransform(src.astype(np.float32), np.asarray(quad, np.float32)).astype(np.float64)


def sample_patches(image_rgb: np.ndarray, quad_px: np.ndarray, *, inner: float = 0.45,
                   n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Sample the 24 patches of a chart grid.

    Parameters
    ----------
    image_rgb : ndarray, (H, W, 3) uint8 (or float in [0, 1])
    quad_px : ndarray, shape (4, 2)
        Grid corners, camera px (see the module docstring).
    inner : float, keyword-only
        Side of the sampled square as a fraction of the patch pitch.
    n : int, keyword-only
        n x n bilinear samples per patch.

    Returns
    -------
    rgb01 : ndarray, (24, 3) float64
        20 % trimmed mean per channel, in [0, 1].
    spread : ndarray, (24,) float64
        Max over channels of the 10-90 percentile spread, in [0, 1].
    """
    img = np.asarray(image_rgb)
    scale = 255.0 if img.dtype == np.uint8 else 1.0
    src = img.astype(np.float32) if img.dtype != np.float32 else img
    return _sample_patches(src, scale, quad_px, inner=inner, n=n)


def _sample_patches(src: np.ndarray, scale: float, quad_px: np.ndarray, *, inner: float = 0.45,
                    n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_patches` on the photo already as float32 (``src``, values up to ``scale``):
    a search that samples many candidate grids converts a 6 MP photo once, not once per grid."""
    h = _grid_to_image(quad_px)
    t = (np.arange(n) + 0.5) / n - 0.5
    du, dv = np.meshgrid(t * inner, t * inner)
    ii, jj = np.meshgrid(np.arange(COLS), np.arange(ROWS))
    u = (ii.ravel()[:, None] + 0.5 + du.ravel()[None, :])
    v = (jj.ravel()[:, None] + 0.5 + dv.ravel()[None, :])
    pts = np.stack([u, v, np.ones_like(u)], -1) @ h.T
    xy = (pts[..., :2] / pts[..., 2:3]).astype(np.float32)  # (24, n*n, 2)
    vals = cv2.remap(src, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64) / scale
    srt = np.sort(vals, axis=1)
    cut = int(0.2 * srt.shape[1])
    loc = srt[:, cut: srt.shape[1] - cut].mean(axis=1)
    p10, p90 = np.percentile(vals, [10, 90], axis=1)
    return loc, (p90 - p10).max(axis=1)


_NAMES, _XYZ_REF, _LAB_REF = colorchecker_reference()


def _chart_score(rgb01: np.ndarray) -> float:
    """Mean in-sample ΔE00 of an affine fit (both encodings tried) of measured patches to the reference."""
    from ..color import delta_e_2000
    from .characterisation import linearise

    best = math.inf
    for enc in ("linear", "srgb"):
        lin = linearise(rgb01, enc)
        f = np.column_stack([lin, np.ones(len(lin))])
        c = np.linalg.lstsq(f, _XYZ_REF, rcond=None)[0]
        e = float(np.mean(delta_e_2000(xyz_d65_to_lab(f @ c), _LAB_REF)))
        best = min(best, e)
    return best


def _orientations(quad: np.ndarray) -> list[np.ndarray]:
    q = np.asarray(quad, np.float64)
    out = []
    for seq in (q, q[::-1]):
        for k in range(4):
            r = np.roll(seq, -k, axis=0)
            if np.linalg.norm(r[1] - r[0]) >= np.linalg.norm(r[3] - r[0]) * 0.999:  # 6-patch side is the long one
                out.append(r)
    return out


def _best_orientation(img: np.ndarray, quads: Sequence[np.ndarray]) -> tuple[float, np.ndarray] | None:
    best: tuple[float, np.ndarray] | None = None
    hh, ww = img.shape[:2]
    src: np.ndarray | None = None
    scale = 255.0 if img.dtype == np.uint8 else 1.0
    for quad in quads:
        if np.any(quad < -1) or np.any(quad[:, 0] > ww) or np.any(quad[:, 1] > hh):
            continue
        if src is None:
            src = img.astype(np.float32) if img.dtype != np.float32 else img
        for q in _orientations(quad):
            rgb, spread = _sample_patches(src, scale, q)
            s = _chart_score(rgb) + 20.0 * float(np.mean(spread))
            if best is None or s < best[0]:
                best = (s, q)
    return best


# ------------------------------------------------------------------ grid detector (scale-free)


def _find_squares(gray: np.ndarray) -> np.ndarray:
    """Candidate square patches: rows (cx, cy, side, angle_rad)."""
    h, w = gray.shape
    found: list[tuple[float, float, float, float]] = []
    for block in (11, 25, 51, 101):
        if block >= min(h, w):
            continue
        for sign in (1, -1):
            bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                       cv2.THRESH_BINARY if sign > 0 else cv2.THRESH_BINARY_INV, block, -3 if sign > 0 else 3)
            bw = cv2.morphologyEx(bw, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            contours, _ = cv2.findContours(bw, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            for c in contours:
                area = cv2.contourArea(c)
                if area < 49 or area > 0.05 * h * w:
                    continue
                (cx, cy), (rw, rh), ang = cv2.minAreaRect(c)
                if rw <= 0 or rh <= 0 or not 0.7 < rw / rh < 1.43 or area / (rw * rh) < 0.8:
                    continue
                approx = cv2.approxPolyDP(c, 0.06 * cv2.arcLength(c, True), True)
                if len(approx) != 4 or not cv2.isContourConvex(approx):
                    continue
                found.append((cx, cy, math.sqrt(rw * rh), math.radians(ang)))
    if not found:
        return np.zeros((0, 4))
    arr = np.array(found)
    arr = arr[np.lexsort((arr[:, 0], arr[:, 1], -arr[:, 2]))]  # by side, then y, x: ties in one order on any CPU
    keep: list[int] = []
    for i in range(len(arr)):  # de-duplicate (same square at several thresholds)
        if all(np.hypot(*(arr[i, :2] - arr[k, :2])) > 0.4 * arr[k, 2] for k in keep):
            keep.append(i)
    return arr[keep]


def _seed_block(iu: np.ndarray, iv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lattice squares ``(iu, iv)`` (integer lattice coordinates, the seed at (0, 0)) joined to
    the seed through neighbours (8-connected): a chart is one block of patches. Squares of the
    scene beside it that happen to fall on the lattice's extension (blocks of a product of the
    patches' size, within a quarter pitch of a lattice point) are cut off by the gap between, and no
    longer widen the block past a chart's 6 x 4 (a photo with the product left of the chart: every
    window was refused; which seed met the scene's squares first depended on the order of equal
    sizes, which numpy's default sort, not stable and dispatched on the CPU's SIMD, does not fix:
    the same code and pins passed CI on 2026-12-07 and failed on 2026-12-08)."""
    pts = {(int(a), int(b)) for a, b in zip(iu, iv)}
    if (0, 0) not in pts:
        return iu[:0], iv[:0]
    block = {(0, 0)}
    todo = [(0, 0)]
    while todo:
        a, b = todo.pop()
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                q = (a + da, b + db)
                if q in pts and q not in block:
                    block.add(q)
                    todo.append(q)
    keep = np.array([(int(a), int(b)) in block for a, b in zip(iu, iv)], bool)
    return iu[keep], iv[keep]


def _lattices(sq: np.ndarray, max_seeds: int = 4000) -> list[np.ndarray]:
    """Quads (4, 2) of candidate 6 x 4 windows from lattices of similar squares."""
    quads: list[np.ndarray] = []
    seen: set[tuple[int, ...]] = set()
    if len(sq) < 6:
        return quads
    xy, side = sq[:, :2], sq[:, 2]
    for s in range(min(len(sq), max_seeds)):
        sim = np.flatnonzero((side > 0.7 * side[s]) & (side < 1.4 * side[s])
                             & (np.hypot(*(xy - xy[s]).T) < 9 * side[s]))
        if len(sim) < 6:
            continue
        d = np.hypot(*(xy[sim] - xy[s]).T)
        nn = np.sort(d)[1:3]
        pitch = float(np.median(nn))
        if not 1.05 * side[s] < pitch < 2.0 * side[s]:
            continue
        a = sq[s, 3]
        u = np.array([math.cos(a), math.sin(a)])
        v = np.array([-u[1], u[0]])
        rel = xy[sim] - xy[s]
        gu, gv = rel @ u / pitch, rel @ v / pitch
        iu, iv = np.rint(gu), np.rint(gv)
        ok = (np.abs(gu - iu) < 0.25) & (np.abs(gv - iv) < 0.25)
        if ok.sum() < 6:
            continue
        iu, iv, pts = iu[ok], iv[ok], xy[sim][ok]
        key = tuple(sorted(sim[ok].tolist()))
        if key in seen:
            continue
        seen.add(key)
        src = np.column_stack([iu, iv]).astype(np.float32)
        if len(np.unique(src, axis=0)) < 6:
            continue
        hmat, mask = cv2.findHomography(src, pts.astype(np.float32), cv2.RANSAC, 0.2 * pitch)
        if hmat is None:
            continue
        inl = mask.ravel().astype(bool)
        iu, iv = _seed_block(iu[inl], iv[inl])
        if len(iu) < 6:
            continue
        spans = [(COLS, ROWS), (ROWS, COLS)]
        for cw, chh in spans:
            if iu.max() - iu.min() + 1 > cw or iv.max() - iv.min() + 1 > chh:
                continue
            for ou in range(int(iu.max()) - cw + 1, int(iu.min()) + 1):
                for ov in range(int(iv.max()) - chh + 1, int(iv.min()) + 1):
                    corners = np.array([[ou - 0.5, ov - 0.5], [ou + cw - 0.5, ov - 0.5],
                                        [ou + cw - 0.5, ov + chh - 0.5], [ou - 0.5, ov + chh - 0.5]], np.float64)
                    c = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), hmat).reshape(4, 2)
                    quads.append(c)
        if len(quads) > 3000:
            break
    return quads


def _grid_detect(img: np.ndarray) -> tuple[float, np.ndarray] | None:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    sq = _find_squares(gray)
    quads = _lattices(sq)
    if not quads:
        return None
    return _best_orientation(img, quads)


def _ccd_detect(img: np.ndarray) -> tuple[float, np.ndarray] | None:
    try:
        import colour_checker_detection as ccd
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    h, w = img.shape[:2]
    tiles = [(0, 0, w, h)]
    for frac in (0.5,):
        tw, th = int(w * frac), int(h * frac)
        for y0 in np.linspace(0, h - th, int(round(2 / frac - 1))).astype(int):
            for x0 in np.linspace(0, w - tw, int(round(2 / frac - 1))).astype(int):
                tiles.append((int(x0), int(y0), tw, th))
    best: tuple[float, np.ndarray] | None = None
    for x0, y0, tw, th in tiles:
        crop = img[y0: y0 + th, x0: x0 + tw]
        try:
            res = ccd.detect_colour_checkers_segmentation(crop.astype(np.float32) / 255.0, additional_data=True)
        except Exception:  # noqa: BLE001 - a third-party detector failing is a miss, not an error
            continue
        scale = tw / 1440.0
        quads = [np.asarray(r.quadrilateral, np.float64) * scale + [x0, y0] for r in res]
        b = _best_orientation(img, quads) if quads else None
        if b is not None and (best is None or b[0] < best[0]):
            best = b
        if best is not None and best[0] < ACCEPT_SCORE:
            break
    return best


#: Largest chart score (affine-fit ΔE00 plus a patch-uniformity penalty) accepted as a chart.
ACCEPT_SCORE = 12.0


def find_colorchecker(
    image_rgb: np.ndarray, *, corners_px: np.ndarray | Sequence[float] | None = None,
    methods: Sequence[str] = ("grid", "colour-checker-detection"),
) -> ChartDetection:
    """Locate a ColorChecker Classic 24 and sample its patches.

    Parameters
    ----------
    image_rgb : ndarray, shape (H, W, 3), uint8
        The photo, camera px.
    corners_px : array-like of 8 floats or (4, 2), optional, keyword-only
        Manual corners of the patch grid (any order and rotation; the orientation is found
        from the colours). When given, no search is made.
    methods : sequence of str, keyword-only
        Automatic searches to try, in order (``"grid"``, ``"colour-checker-detection"``).

    Returns
    -------
    ChartDetection
        ``found`` False (with the reason) when no search finds a chart-like 6 x 4 grid.
    """
    img = np.asarray(image_rgb)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise ImageError(f"find_colorchecker image_rgb: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
    if corners_px is not None:
        q = np.asarray(corners_px, np.float64).reshape(-1)
        if q.size != 8 or not np.all(np.isfinite(q)):
            raise CalibrationError(f"chart corners: expected 8 numbers x1,y1,...,x4,y4 (camera px), got {q.size}")
        best = _best_orientation(img, [q.reshape(4, 2)])
        if best is None:
            raise CalibrationError(f"chart corners {q.tolist()}: outside the {img.shape[1]}x{img.shape[0]} photo")
        return _result(img, best, "manual")
    tried = []
    for m in methods:
        if m == "grid":
            b = _grid_detect(img)
        elif m == "colour-checker-detection":
            b = _ccd_detect(img)
        else:
            raise CalibrationError(f"find_colorchecker methods: unknown {m!r}; expected 'grid' or 'colour-checker-detection'")
        tried.append(f"{m}: " + ("nothing chart-like" if b is None else f"best score {b[0]:.1f} > {ACCEPT_SCORE}"))
        if b is not None and b[0] <= ACCEPT_SCORE:
            return _result(img, b, m)
    return ChartDetection(found=False, quad_px=None, patch_rgb01=None, patch_spread=None, method="none",
                          fit_de00=math.nan, reason="no ColorChecker found (" + "; ".join(tried) + "); give --corners")


def _result(img: np.ndarray, best: tuple[float, np.ndarray], method: str) -> ChartDetection:
    rgb, spread = sample_patches(img, best[1])
    return ChartDetection(found=True, quad_px=best[1], patch_rgb01=rgb, patch_spread=spread, method=method,
                          fit_de00=_chart_score(rgb), reason="")
