"""Local residual misalignment, measured and undone only where a unit deviates (internal).

Registration (or a "pre-aligned" scan with ``registration: none``) leaves a residual
misalignment that is not one global shift: a scanner's or a lens's distortion, a flexible
board, a soft product. The variation model tolerates about ``shift_px`` px (min/max tolerance
band) plus a sub-pixel edge term; an edge displaced by more than that lights up as a thin
doubled outline, and any round averaging window wide enough to suppress it also dilutes thin
real defects.

So, only where the first pass of the map reaches the threshold, the unit is re-aligned to
the golden block by block: for each block of ``block_px`` (grid step ``block_px / 2``)
around a hot pixel, the integer shift ``d`` with ``|d| <= radius`` minimising the block's
*truncated* absolute grey difference ``sum min(|u(x + d) - g(x)|, trunc)`` is kept when it
lowers the cost at zero shift by at least ``min_gain`` (a block's edges must vouch for it;
flat blocks stay at 0). Truncation keeps a defect from steering its own block: a defect
costs ``trunc`` per pixel at every shift, while the block's edges cost at every wrong
shift. The block shifts are median-filtered over 3 x 3 blocks (a lone block that differs
from its neighbours is a defect, not a distortion), interpolated bilinearly to a smooth
field, and the unit is resampled along it (``cv2.remap``). The caller then scores the
re-aligned unit; the golden and its thresholds are unchanged, so a real defect keeps its
full contrast (no wider tolerance band, no more averaging).

A defect that *is* a displacement of a whole block by more than the residual radius (a hole
out of position, print misregistration of a mm) is not absorbed: ``radius`` is the
residual the model tolerates (``max_residual_shift_px``), far below such tolerances at any
station scale, and a block shift needs the whole block to agree.

Cost: nothing on units whose first pass stays below the threshold (the usual good unit);
otherwise ``(2 radius + 1)^2`` absolute differences over the bounding box of the hot
blocks, then one remap and a second scoring pass.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["local_shift_field", "apply_shift_field"]


def _block_grid(n: int, step: int) -> np.ndarray:
    """Block centres along an axis of n px: ``step // 2 + j * step``."""
    c = np.arange(step // 2, n, step)
    return c if len(c) else np.array([n // 2])


def local_shift_field(
    ref: np.ndarray,
    cur: np.ndarray,
    hot: np.ndarray,
    *,
    radius: int,
    block_px: int,
    trunc: float,
    min_gain: float = 0.2,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel shift field (dx, dy) that re-aligns ``cur`` onto ``ref`` near ``hot`` pixels.

    Parameters
    ----------
    ref, cur : ndarray, shape (H, W), float32
        Golden and unit grey (same gain), golden px.
    hot : ndarray, shape (H, W), bool
        Pixels where the first-pass map reached the threshold.
    radius : int
        Largest shift searched, px (per axis).
    block_px : int
        Block side, px; blocks are on a grid of step ``block_px // 2``.
    trunc : float
        Truncation of the absolute difference (grey levels).
    min_gain : float
        A block's shift is kept when it lowers its cost by at least this fraction.

    Returns
    -------
    (dx, dy) : two ndarrays, shape (H, W), float32, or None when no block moves.
        ``cur`` resampled at ``(x + dx, y + dy)`` lies on ``ref``.
    """
    h, w = ref.shape
    r = int(radius)
    if r <= 0 or not hot.any():
        return None
    step = max(4, block_px // 2)
    cy, cx = _block_grid(h, step), _block_grid(w, step)
    # blocks that hold a hot pixel (block j spans about [(j - 0.5) step, (j + 1.5) step)), grown by one
    gh, gw = len(cy), len(cx)
    hot_blocks = np.zeros((gh, gw), bool)
    ys, xs = np.nonzero(hot)
    hot_blocks[np.clip(ys // step, 0, gh - 1), np.clip(xs // step, 0, gw - 1)] = True
    hot_blocks = cv2.dilate(hot_blocks.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    bi, bj = np.nonzero(hot_blocks)
    # pixel window of the hot blocks (+ half a block and the search radius)
    half = block_px // 2
    y0, y1 = max(0, int(cy[bi.min()]) - half), min(h, int(cy[bi.max()]) + half)
    x0, x1 = max(0, int(cx[bj.min()]) - half), min(w, int(cx[bj.max()]) + half)
    g = ref[y0:y1, x0:x1]
    pad = cv2.copyMakeBorder(cur, r, r, r, r, cv2.BORDER_REPLICATE)
    # block sums by box filter, sampled at the hot block centres
    ky = np.clip(cy[bi] - y0, 0, y1 - y0 - 1)
    kx = np.clip(cx[bj] - x0, 0, x1 - x0 - 1)
    shifts = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    costs = np.empty((len(shifts), len(bi)), np.float32)
    for k, (dx, dy) in enumerate(shifts):
        u = pad[y0 + r + dy : y1 + r + dy, x0 + r + dx : x1 + r + dx]
        d = cv2.absdiff(u, g)
        np.minimum(d, np.float32(trunc), out=d)
        s = cv2.boxFilter(d, -1, (block_px, block_px), normalize=True, borderType=cv2.BORDER_REFLECT)
        costs[k] = s[ky, kx]
    zero = shifts.index((0, 0))
    # a tiny preference for small shifts breaks ties towards the least motion
    pen = np.asarray([np.hypot(dx, dy) for dx, dy in shifts], np.float32)[:, None] * np.float32(1e-3 * trunc)
    best = np.argmin(costs + pen, axis=0)
    c0 = costs[zero]
    cb = costs[best, np.arange(len(bi))]
    keep = cb <= (1.0 - min_gain) * c0
    sx = np.zeros((gh, gw), np.float32)
    sy = np.zeros((gh, gw), np.float32)
    bx = np.asarray([shifts[b][0] for b in best], np.float32)
    by = np.asarray([shifts[b][1] for b in best], np.float32)
    sx[bi, bj] = np.where(keep, bx, 0)
    sy[bi, bj] = np.where(keep, by, 0)
    if not (sx.any() or sy.any()):
        return None
    # a lone block that moves against its neighbours is a defect, not a distortion
    if gh >= 3 and gw >= 3:
        mx = cv2.medianBlur(sx, 3)
        my = cv2.medianBlur(sy, 3)
        sx = np.where(hot_blocks, mx, 0).astype(np.float32)
        sy = np.where(hot_blocks, my, 0).astype(np.float32)
    if not (sx.any() or sy.any()):
        return None
    # smooth field: bilinear between block centres (centres at (j + 0.5) * step)
    fx = cv2.resize(sx, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    fy = cv2.resize(sy, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    if fx.shape != (h, w):
        fx = cv2.copyMakeBorder(fx, 0, h - fx.shape[0], 0, w - fx.shape[1], cv2.BORDER_REPLICATE)
        fy = cv2.copyMakeBorder(fy, 0, h - fy.shape[0], 0, w - fy.shape[1], cv2.BORDER_REPLICATE)
    return fx, fy


def apply_shift_field(img: np.ndarray, valid: np.ndarray, field: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``img`` and ``valid`` resampled at ``(x + dx, y + dy)`` (bilinear; valid by nearest)."""
    fx, fy = field
    h, w = img.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + fx, gy + fy
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    v = cv2.remap(valid.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return out, v
