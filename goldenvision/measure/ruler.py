"""A ruler in a hand-held photo (the spec's ``scale_ruler``): its row of ticks found, their
positions fitted along the ruler, and the span they give (:class:`RulerFrame`) for dimensions
scaled by it (``DimensionReference.RULER``, see :mod:`goldenvision.measure.dimensions`).

How the ruler is found (:func:`find_scale_ruler`), with nothing keyed on one ruler's drawing
(colour, tick lengths, numbers, which end shows):

1. Candidate directions: the strongest orientations of the image gradient (a row of ticks is
   many parallel edges, its gradient points along the ruler).
2. For each, the photo is turned so that direction is horizontal, and every pixel scores how
   periodic the second derivative across the ticks is around it (the normalised
   autocorrelation of the tick-scale second derivative at the best lag of 3 to 40 px, over a
   48 px window). The tick row is the longest horizontal run of periodic pixels; a straight
   line is fitted through it (the ruler's row need not be exactly perpendicular to the
   dominant gradient under perspective).
3. Along that line, a profile averaged over a few px across the row; the ticks are its
   second-derivative extrema of one polarity (dark ticks on a light ruler or the reverse),
   each located to sub-pixel precision (a parabola through the peak). Successive ticks are
   given indices from their gaps over the local pitch; peaks between ticks (printed numbers,
   dirt) are dropped; the longest chain is kept.
4. The tick positions are fitted with a 1-D homography ``t(i) = (a i + b) / (c i + 1)`` (a
   ruler seen at a tilt has its pitch change projectively along it), robustly (residuals over
   3.5 MAD dropped, refitted); the span's uncertainty is the fit's, from its residuals.

Told apart from a product's own periodic structure (a zipper's teeth, knit, stitches, a PCB's pin
rows) by: at least :data:`MIN_TICKS` ticks in one chain with few missing (a ruler's row is long
and unbroken), a regular spacing (fit residuals under a fifth of the pitch), ticks that reach
across the row for at least :data:`MIN_TICK_LENGTH` pitches (the staircase that resampling and JPEG
leave along a slanted straight edge is a row of dots as regular as ticks), and, when the caller
knows the expected scale (the golden's mm per px times the registration's scale), the pitch
consistent with ``tick_mm`` within :data:`SCALE_FACTOR_TOLERANCE`. A periodic band of the
product at another pitch fails the last check; one at the pitch of a tick and as regular as a
ruler cannot be told from one (say so in the spec by not giving ``scale_ruler``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["RulerFrame", "find_scale_ruler", "MIN_TICKS", "SCALE_FACTOR_TOLERANCE"]

#: Fewest ticks in one regular chain for a ruler.
MIN_TICKS = 20
#: The ruler's scale (tick_mm over its pitch) must lie within this factor of the expected one.
SCALE_FACTOR_TOLERANCE = 1.2
#: Shortest extent of the ticks across the row, in tick pitches (:func:`_tick_extent`).
MIN_TICK_LENGTH = 1.0
#: Lags (px) searched for the tick pitch.
_MIN_LAG, _MAX_LAG = 3, 24
#: Rows of the turned photo scored for periodicity (every third: a tick is longer than that).
_ROW_STEP = 3
_WINDOW = 48
_N_ORIENT = 3


@dataclass(frozen=True)
class RulerFrame:
    """A ruler's fitted tick row in a unit photo.

    Attributes
    ----------
    ticks_px : ndarray (N, 2)
        The fitted tick positions (unit px) along the row, for tick indices ``indices``.
    indices : ndarray (N,)
        The ticks' indices (consecutive ticks differ by 1), first 0.
    ends_px : ndarray (2, 2)
        The fitted positions of the first and last tick, unit px.
    span_mm : float
        The distance between those two ticks on the ruler: ``(last index) * tick_mm``.
    end_std_px : float
        1-sigma error of each end's position along the row (from the fit's residuals), px.
    pitch_px : float
        Mean tick pitch in unit px.
    tick_mm : float
    residual_px : float
        RMS of the tick positions about the fit, px.
    """

    ticks_px: np.ndarray
    indices: np.ndarray
    ends_px: np.ndarray
    span_mm: float
    end_std_px: float
    pitch_px: float
    tick_mm: float
    residual_px: float

    @property
    def n_ticks(self) -> int:
        return int(len(self.indices))


def _gray(image: np.ndarray) -> np.ndarray | None:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] >= 3:
        img = img[..., :3].astype(np.float32).mean(axis=2)
    if img.ndim != 2 or img.shape[0] < 16 or img.shape[1] < 64:
        return None
    g = img.astype(np.float32)
    if not np.all(np.isfinite(g)):
        return None
    return g


def find_scale_ruler(image: np.ndarray, ruler: Any, expected_mm_per_px: float | None = None) -> RulerFrame | None:
    """Find a ruler's tick row in a unit photo (module notes), or None.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3)
        The unit photo.
    ruler : ScaleRuler
        ``ruler.tick_mm``: the pitch of its finest ticks, mm.
    expected_mm_per_px : float, optional
        The photo's expected mm per px where the ruler lies (e.g. the golden's mm per golden
        px times the registration's local scale); a ruler whose ``tick_mm`` over its pitch is
        not within :data:`SCALE_FACTOR_TOLERANCE` of it is not taken.

    Returns None (never raises) for a photo without a ruler, with fewer than :data:`MIN_TICKS`
    regular ticks, or that cannot be read (empty, truncated, non-finite).
    """
    try:
        return _find(image, float(ruler.tick_mm), expected_mm_per_px)
    except (cv2.error, ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError, TypeError):
        return None


def _orientations(g: np.ndarray) -> list[float]:
    """The strongest gradient orientations (rad, 0..pi) of the photo."""
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    thr = np.percentile(mag, 90)
    m = mag > max(thr, 1e-6)
    ang = np.mod(np.arctan2(gy[m], gx[m]), np.pi)
    hist, _ = np.histogram(ang, bins=180, range=(0, np.pi), weights=mag[m])
    hist = np.convolve(np.r_[hist[-2:], hist, hist[:2]], np.ones(5) / 5, mode="valid")
    out: list[float] = []
    h = hist.copy()
    for _ in range(_N_ORIENT):
        k = int(np.argmax(h))
        if h[k] <= 0:
            break
        out.append((k + 0.5) * np.pi / 180)
        for d in range(-10, 11):
            h[(k + d) % 180] = 0
    return out


def _second_derivative_x(r: np.ndarray) -> np.ndarray:
    d2 = cv2.Sobel(cv2.GaussianBlur(r, (0, 0), 0.8), cv2.CV_32F, 2, 0, ksize=3)
    return cv2.blur(d2, (1, 5))  # along the ticks


def _lags(w: int, tick_mm: float, expected: float | None) -> range:
    """The lags (px) worth trying: all of ``_MIN_LAG.._MAX_LAG``, or, with the expected scale, only
    those a ruler within :data:`SCALE_FACTOR_TOLERANCE` of it can have (any other pitch is refused
    later anyway): a few lags instead of twenty, the search's whole cost."""
    lo, hi = _MIN_LAG, min(_MAX_LAG, w // 4)
    if expected is not None and expected > 0 and math.isfinite(expected):
        pitch = tick_mm / expected
        lo = max(lo, int(math.floor(pitch / SCALE_FACTOR_TOLERANCE)) - 1)
        hi = min(hi, int(math.ceil(pitch * SCALE_FACTOR_TOLERANCE)) + 1)
    return range(lo, hi + 1)


def _periodicity(d2: np.ndarray, lags: range) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the best normalised autocorrelation of ``d2`` along x over ``lags``, and that lag."""
    e = cv2.blur(d2 * d2, (_WINDOW, 1)) + 1e-9
    best = np.full(d2.shape, -1.0, np.float32)
    lag = np.zeros(d2.shape, np.float32)
    prev = None
    for p in lags:
        prod = np.zeros_like(d2)
        prod[:, :-p] = d2[:, :-p] * d2[:, p:]
        a = cv2.blur(prod, (_WINDOW, 1)) / e
        a = np.roll(a, p // 2, axis=1)  # centred between the pair
        # the first strong lag (a period's multiples correlate as well)
        upd = (a > best + 0.1) if prev is not None else np.ones(d2.shape, bool)
        best = np.where(upd, a, best)
        lag = np.where(upd, float(p), lag)
        prev = a
    return best, lag


def _find(image: np.ndarray, tick_mm: float, expected: float | None) -> RulerFrame | None:
    g = _gray(image)
    if g is None:
        return None
    hh, ww = g.shape
    best: RulerFrame | None = None
    for theta in _orientations(g):
        cand = _along(g, theta, tick_mm, expected)
        if cand is not None and (best is None or cand.n_ticks > best.n_ticks):
            best = cand
    return best


def _along(g: np.ndarray, theta: float, tick_mm: float, expected: float | None) -> RulerFrame | None:
    hh, ww = g.shape
    c = (ww / 2.0, hh / 2.0)
    diag = int(math.ceil(math.hypot(hh, ww)))
    rot = cv2.getRotationMatrix2D(c, math.degrees(theta), 1.0)  # the direction theta -> +x
    rot[:, 2] += [(diag - ww) / 2.0, (diag - hh) / 2.0]
    r = cv2.warpAffine(g, rot, (diag, diag), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=float("nan"))
    valid = np.isfinite(r)
    r = np.where(valid, r, np.nanmean(r) if valid.any() else 0.0).astype(np.float32)
    d2 = _second_derivative_x(r)
    valid = cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    score_s, lag_s = _periodicity(np.ascontiguousarray(d2[::_ROW_STEP]), _lags(d2.shape[1], tick_mm, expected))
    periodic_s = (score_s > 0.5) & valid[::_ROW_STEP]
    # the tick row: the row with the longest run of periodic pixels
    runs = _longest_runs(periodic_s)
    ys = int(np.argmax(runs[:, 0]))
    length, x_start = int(runs[ys, 0]), int(runs[ys, 1])
    if length < MIN_TICKS * _MIN_LAG:
        return None
    y0 = ys * _ROW_STEP
    periodic = np.repeat(periodic_s, _ROW_STEP, axis=0)[:r.shape[0]]
    # fit the row's line: per column of the run, the row of the strongest periodic energy nearby
    xs = np.arange(x_start, x_start + length)
    ylo, yhi = max(0, y0 - 12), min(r.shape[0], y0 + 13)
    energy = np.abs(d2[ylo:yhi, xs]) * periodic[ylo:yhi, xs]
    energy = cv2.blur(energy.astype(np.float32), (15, 1))
    yy = ylo + np.argmax(energy, axis=0).astype(np.float64)
    ok = energy.max(axis=0) > 0
    if ok.sum() < 10:
        return None
    k, b = np.polyfit(xs[ok], yy[ok], 1)
    res = yy[ok] - (k * xs[ok] + b)
    keep = np.abs(res) < max(2.0, 2.5 * float(np.median(np.abs(res))))
    if keep.sum() >= 10:
        k, b = np.polyfit(xs[ok][keep], yy[ok][keep], 1)
    # the profile along the line, a few px beyond the run at each end
    x_a, x_b = max(0, x_start - 10), min(r.shape[1] - 1, x_start + length + 10)
    t = np.arange(x_a, x_b, 0.5)
    dirv = np.array([1.0, k]) / math.hypot(1.0, k)
    normal = np.array([-dirv[1], dirv[0]])
    pitch0 = float(np.median(lag_s[ys, x_start:x_start + length]))
    fit = None
    for shift in np.arange(-9.0, 9.5, 1.5):  # across the row: where the most ticks cross it
        base = np.c_[t, k * t + b + shift]
        prof = np.zeros(len(t))
        for off in (-1.0, 0.0, 1.0):
            p = base + off * normal
            prof += cv2.remap(r, p[:, 0].astype(np.float32).reshape(1, -1), p[:, 1].astype(np.float32).reshape(1, -1),
                              cv2.INTER_LINEAR).ravel()
        f = _ticks(prof / 3.0, t, pitch0)
        if f is not None and (fit is None or len(f[1]) > len(fit[0][1])):
            fit = (f, shift)
    if fit is None:
        return None
    (pos_r, idx, std_end, resid, pitch_r), shift = fit  # positions along t (rotated x)
    b = b + shift
    if _tick_extent(r, t, k, b, normal, pos_r, pitch_r) < MIN_TICK_LENGTH * pitch_r:
        return None  # a row of dots, not of ticks: the staircase of a slanted straight edge
    # back to unit px: rotated (t, k t + b) -> photo through the inverse rotation
    inv = cv2.invertAffineTransform(rot)
    pts_r = np.c_[pos_r, k * pos_r + b]
    pts = pts_r @ inv[:, :2].T + inv[:, 2]
    step = math.hypot(1.0, k)  # px of the photo per unit of t
    ends = pts[[0, -1]]
    pitch_px = float(np.hypot(*(ends[1] - ends[0]))) / max(float(idx[-1]), 1.0)
    if expected is not None and expected > 0:
        ratio = (tick_mm / pitch_px) / expected
        if not (1.0 / SCALE_FACTOR_TOLERANCE <= ratio <= SCALE_FACTOR_TOLERANCE):
            return None
    return RulerFrame(ticks_px=pts, indices=idx.astype(np.int64), ends_px=ends, span_mm=float(idx[-1]) * tick_mm,
                      end_std_px=std_end * step, pitch_px=pitch_px, tick_mm=tick_mm, residual_px=resid * step)


def _profile(r: np.ndarray, t: np.ndarray, k: float, b: float, normal: np.ndarray, across: float) -> np.ndarray:
    """Grey profile of the turned photo ``r`` along the line ``y = k t + b`` moved ``across`` px
    along ``normal``, averaged over three lines 1 px apart (as the tick row is read)."""
    base = np.c_[t, k * t + b] + across * normal
    prof = np.zeros(len(t))
    for off in (-1.0, 0.0, 1.0):
        p = base + off * normal
        prof += cv2.remap(r, p[:, 0].astype(np.float32).reshape(1, -1), p[:, 1].astype(np.float32).reshape(1, -1),
                          cv2.INTER_LINEAR).ravel()
    return prof / 3.0


def _tick_extent(r: np.ndarray, t: np.ndarray, k: float, b: float, normal: np.ndarray, pos: np.ndarray,
                 pitch: float) -> float:
    """How far across the row (px) the fitted ticks reach: the contiguous offsets from the row at
    which the profile's second derivative at the ticks keeps at least half of its value on the
    row (same sign). A ruler's ticks are lines across it, longer than their pitch (1 mm ticks
    2-3 mm long); the staircase that aliasing and JPEG leave along a slanted straight edge is as
    regular, and may have a tick's pitch (zoo label hand-held, seed 1: a red band's edge at 13
    degrees read as a 39 mm ruler at 1 px per step, and the band's height through it 2 mm off),
    but is only the edge's blur wide."""
    dt = float(t[1] - t[0])
    sig = max(0.8, 0.12 * pitch / dt)
    j = np.clip(np.rint((pos - t[0]) / dt).astype(np.int64), 0, len(t) - 1)

    def at_ticks(across: float) -> float:
        p = cv2.GaussianBlur(_profile(r, t, k, b, normal, across).reshape(1, -1), (0, 0), sig).ravel()
        return float(np.mean(np.gradient(np.gradient(p))[j]))

    c0 = at_ticks(0.0)
    if abs(c0) < 1e-9:
        return 0.0
    reach = []
    for sgn in (1.0, -1.0):
        o = 0.0
        while o < 4.0 * pitch and at_ticks(sgn * (o + 1.0)) / c0 >= 0.5:
            o += 1.0
        reach.append(o)
    return 1.0 + reach[0] + reach[1]


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """Per row, (length, start) of its longest run of True."""
    h, w = mask.shape
    out = np.zeros((h, 2), np.int64)
    m = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(m, axis=1)
    for y in np.nonzero(mask.any(axis=1))[0]:
        s = np.nonzero(d[y] == 1)[0]
        e = np.nonzero(d[y] == -1)[0]
        ln = e - s
        j = int(np.argmax(ln))
        out[y] = (ln[j], s[j])
    return out


def _ticks(prof: np.ndarray, t: np.ndarray, pitch0: float) -> tuple[np.ndarray, np.ndarray, float, float, float] | None:
    """Tick positions (in ``t`` units), their indices, the ends' 1-sigma, the fit's RMS and pitch."""
    dt = float(t[1] - t[0])
    cands: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
    # the lag found may be a multiple of the finest ticks' pitch: its sub-multiples are tried too
    for m in (1, 2, 3, 4, 5):
        s = pitch0 / m / dt  # samples per pitch
        if s * dt < 2.5:
            break
        sig = max(0.8, 0.12 * s)
        p = cv2.GaussianBlur(prof.reshape(1, -1).astype(np.float64), (0, 0), sig).ravel()
        d2 = np.gradient(np.gradient(p))
        for pol in (1.0, -1.0):
            q = pol * d2
            pk = np.nonzero((q[1:-1] > q[:-2]) & (q[1:-1] >= q[2:]) & (q[1:-1] > 0))[0] + 1
            if len(pk) < MIN_TICKS:
                continue
            strong = np.percentile(q[pk], 90)
            pk = pk[q[pk] > 0.2 * strong]
            chain = _chain(pk, q, s) if len(pk) >= MIN_TICKS else None
            if chain is not None:
                cands.append((chain[0], chain[1], q, float(np.median(q[chain[0]]) / (np.std(q) + 1e-12))))
    if not cands:
        return None
    # of the chains nearly as long as the longest, the sharpest: a row of thin ticks gives peaks of
    # one polarity on the ticks and weaker, broader ones on the gaps between them
    longest = max(len(c[0]) for c in cands)
    pk, idx, q, _ = max((c for c in cands if len(c[0]) >= 0.9 * longest), key=lambda c: c[3])
    # sub-sample peak: parabola through the three samples
    y0, y1, y2 = q[pk - 1], q[pk], q[pk + 1]
    den = y0 - 2 * y1 + y2
    off = np.where(np.abs(den) > 1e-12, 0.5 * (y0 - y2) / np.where(np.abs(den) > 1e-12, den, 1.0), 0.0)
    x = t[0] + (pk + np.clip(off, -0.5, 0.5)) * dt
    return _homography_fit(x, idx.astype(np.float64))


def _chain(pk: np.ndarray, q: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The longest run of peaks whose gaps are whole numbers of the (locally updated) pitch."""
    chains: list[tuple[list[int], list[int]]] = []
    cur_p, cur_i = [int(pk[0])], [0]
    pitch = s
    for j in pk[1:]:
        gap = (j - cur_p[-1]) / pitch
        n = round(gap)
        if n >= 1 and abs(gap - n) < 0.25 and n <= 2:
            cur_p.append(int(j))
            cur_i.append(cur_i[-1] + n)
            if n == 1:
                pitch = 0.8 * pitch + 0.2 * (j - cur_p[-2])
        elif n == 0 or gap < 0.75:  # a peak between two ticks: keep the stronger
            if q[j] > q[cur_p[-1]] and len(cur_p) == 1:
                cur_p[-1] = int(j)
            continue
        else:
            chains.append((cur_p, cur_i))
            cur_p, cur_i, pitch = [int(j)], [0], s
    chains.append((cur_p, cur_i))
    p_best, i_best = max(chains, key=lambda c: len(c[0]))
    if len(p_best) < MIN_TICKS or len(p_best) < 0.8 * (i_best[-1] + 1):
        return None
    return np.asarray(p_best), np.asarray(i_best)


def _homography_fit(x: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float] | None:
    """Fit x(i) = (a i + b) / (c i + 1) robustly; (fitted x, indices, ends' 1-sigma, rms, pitch)."""
    keep = np.ones(len(x), bool)
    for _ in range(3):
        a_m = np.c_[i[keep], np.ones(keep.sum()), -i[keep] * x[keep]]
        sol, *_ = np.linalg.lstsq(a_m, x[keep], rcond=None)
        a, b, c = (float(v) for v in sol)
        den = c * i + 1.0
        if np.any(den <= 0.05):
            return None
        model = (a * i + b) / den
        res = x - model
        mad = float(np.median(np.abs(res[keep] - np.median(res[keep])))) * 1.4826
        new = np.abs(res) <= max(3.5 * mad, 1e-3)
        if np.array_equal(new, keep):
            break
        keep = new
    if keep.sum() < MIN_TICKS:
        return None
    ii, xx = i[keep], x[keep]
    model = (a * ii + b) / (c * ii + 1.0)
    res = xx - model
    dof = max(1, len(xx) - 3)
    rms = float(math.sqrt(float(np.sum(res ** 2)) / dof))
    pitch = float((model[-1] - model[0]) / max(ii[-1] - ii[0], 1.0))
    if not (pitch > 0 and rms < 0.2 * pitch):
        return None
    den = c * ii + 1.0
    jac = np.c_[ii / den, 1.0 / den, -(a * ii + b) * ii / den ** 2]
    cov = rms ** 2 * np.linalg.inv(jac.T @ jac)
    i0, i1 = float(ii[0]), float(ii[-1])

    def grad(iv: float) -> np.ndarray:
        dd = c * iv + 1.0
        return np.array([iv / dd, 1.0 / dd, -(a * iv + b) * iv / dd ** 2])

    # the span's variance, shared equally by its two ends: the normal equations' (independent
    # residuals) or, where larger, a delete-a-block jackknife over 8 runs of ticks (the residuals
    # are correlated along the ruler: JPEG blocks, the sub-pixel peaks' phase; measured on the zoo's
    # ruler photos against their true tick positions: scale error rms 0.025 %, the normal
    # equations alone said 0.01 %)
    gspan = grad(i1) - grad(i0)
    span_var = max(float(gspan @ cov @ gspan), _jackknife_span_var(ii, xx, i0, i1))
    end_std = math.sqrt(max(span_var, 0.0) / 2.0)
    idx = (ii - i0).astype(np.int64)
    return model, idx, end_std, rms, pitch


def _jackknife_span_var(i: np.ndarray, x: np.ndarray, i0: float, i1: float, blocks: int = 8) -> float:
    """Delete-a-block jackknife variance of the fitted span ``x(i1) - x(i0)`` (1-D homography)."""
    edges = np.linspace(0, len(i), blocks + 1).astype(int)
    spans = []
    for b in range(blocks):
        keep = np.ones(len(i), bool)
        keep[edges[b]:edges[b + 1]] = False
        a_m = np.c_[i[keep], np.ones(keep.sum()), -i[keep] * x[keep]]
        (a, bb, c), *_ = np.linalg.lstsq(a_m, x[keep], rcond=None)
        spans.append((a * i1 + bb) / (c * i1 + 1.0) - (a * i0 + bb) / (c * i0 + 1.0))
    sp = np.asarray(spans, np.float64)
    if not np.all(np.isfinite(sp)):
        return math.inf
    return float((blocks - 1) / blocks * np.sum((sp - sp.mean()) ** 2))
