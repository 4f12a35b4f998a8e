"""Whether a unit's photo can be judged at all: its colour, exposure and focus against the golden's.

The stages judge a product through its photo and take the photo to be like the golden's: in colour,
exposed alike up to what the colour stage removes, and as sharp. A photo that is not (a monochrome
camera or a grey copy; a frame several stops under or burnt out; a shaken or misfocused shot) made
them judge the photo instead of the product (zoo hand-held, a unit's own photo changed; wallet,
sole and pcba): a grey copy failed every colour zone by 4-25 ΔE00, a frame at a fifth of its
levels failed its colours by 4.6-5.9 ΔE00, one blurred by 6 px failed a rivet read 6.97 mm of
8.00 and a hole 4.45 mm of 3.20, and one burnt out (levels x 2.5) failed on its surface. Each is a
fact about the photo, measured on the unit warped into golden px over the product, against the
same measure of the golden:

* **no colour**: :data:`MONO_SHARE` of the product's pixels with their three channels within
  :data:`MONO_LEVELS` of each other, where the golden's are not: colour and the surface (compared
  in colour) are not judged;
* **overexposed**: the share of product pixels with a channel at 0 or 255 exceeds the golden's by
  :data:`CLIP_EXCESS` and the photo is :data:`OVER_STOPS` brighter: colour, the surface and the
  dimensions (a clipped edge moves) are not judged;
* **exposure** (only where the colour is judged relative to the golden, with no chart): the product's
  linear luminance is more than :data:`EXPOSURE_STOPS` stops from the golden's (per pixel, where
  neither is clipped): an 8-bit photo that far off holds too few levels to compare (colour and the
  surface not judged);
* **blur**: each photo's edges read at its own strongest edges (:func:`_edge_blurs`), per
  orientation; the orientation the unit blurs most beyond the golden's counts. Over
  :data:`MAX_EXTRA_BLUR_PX` golden px the dimensions are not judged; over :data:`SURFACE_BLUR_PX`
  and half the smallest defect's side, the surface.

Each gives a reason that says what to change, and the unit goes to review.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .calibration.color import _LUT_DECODE32

__all__ = ["PhotoQuality", "GoldenPhoto", "golden_photo", "assess_photo", "edge_blur_px", "MONO_LEVELS",
           "CLIP_EXCESS", "EXPOSURE_STOPS", "OVER_STOPS", "MAX_EXTRA_BLUR_PX", "SURFACE_BLUR_PX"]

#: Channels within this many levels of each other count as equal (a grey photo saved as JPEG keeps
#: them within 1-2 levels).
MONO_LEVELS = 2
#: A photo has no colour when this share of its product pixels has equal channels...
MONO_SHARE = 0.995
#: ... and the golden has colour: a tenth of its product pixels have a channel spread of at least this.
GOLDEN_CHROMA_LEVELS = 8.0
#: Clipped product pixels (a channel at 0 or 255) beyond the golden's share by more than this.
CLIP_EXCESS = 0.10
#: Stops of linear luminance between the unit's product and the golden's (:func:`assess_photo`) beyond which a photo is too far under or over for
#: colour judged relative to the golden.
EXPOSURE_STOPS = 2.0
#: Exposure is the median over the product of the unit's linear luminance over the golden's, per
#: pixel where the unit is neither clipped nor black and the golden above this (an overexposed light
#: product's median read +0.8 stops at levels x 2.5, clipped at white), on at least so many pixels.
_MIN_LUMINANCE, _MIN_EXPOSURE_PX = 0.004, 100
#: An overexposed photo: clipped as above and this many stops brighter than the golden (a unit whose
#: own colour clips at the golden's exposure, a colour fault, is judged as it is).
OVER_STOPS = 1.0
#: Extra blur (golden px, a Gaussian's sigma) beyond which dimensions are not judged. Measured on the
#: zoo's hand-held lots (wallet, hardware, pcba, part; 6 units each, seed 0): a blur of 2 px added to
#: the photo (read here as 1.7-2.2 px extra) took the dimensions' RMS error from 0.03-0.09 mm to
#: 0.24-0.64 mm and every unit failed; 1 px (read 0.8-1.2) to 0.09-0.23 mm, and good units went to
#: fail or review, but the zoo's own photos of a natural product read up to 1.12 px (wood's grain,
#: its own edges unlike the golden board's), so a limit of 1 px would stop good boards.
MAX_EXTRA_BLUR_PX = 1.5
#: Extra blur beyond which the surface is not judged: this, or half the smallest defect's side when
#: larger. Real photos of one product vary in focus: KolektorSDD's held-out photos read 0.99 px
#: beyond the first sealed photo's (2.1 px) at the median and 1.56 px at most, and the surface's
#: AUROC there holds (0.968); the zoo wallet's print zone flagged good units at 2 px added.
SURFACE_BLUR_PX = 2.0
#: Gaussian scales (px) of the fine and coarse gradients whose peak ratio gives an edge's blur.
_FINE_PX, _COARSE_PX = 1.0, 3.0
#: A photo's strongest edges over the product: this share of its pixels' worth (at least _MIN_EDGE_PX).
_EDGE_SHARE, _MIN_EDGE_PX = 0.02, 200
#: Edges are read in this many bins of their orientation, each with at least _MIN_BIN_PX pixels: a
#: shaken photo blurs the edges across its motion only (zoo pcba, a 9 px motion blur: 1.1 px over all
#: edges, 2.2 px across the motion).
_N_BINS, _MIN_BIN_PX = 4, 100
#: Pixels of the unit's valid area next to its border left out (the coarse gradient's reach).
_BORDER_PX = 12


def _grad_xy(gray: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of ``gray`` (float32) at Gaussian scale ``sigma`` px, per px of distance."""
    b = cv2.GaussianBlur(gray, (0, 0), sigma)
    return (cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
            cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))


def _grad(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Gradient magnitude of ``gray`` (float32) at Gaussian scale ``sigma`` px, per px of distance."""
    return cv2.magnitude(*_grad_xy(gray, sigma))


def _edge_ratios(gray: np.ndarray, edges: np.ndarray, reach_px: int = 2) -> np.ndarray:
    """Per pixel of ``edges`` (row-major order), the gradient's peak at the fine scale over its peak
    at the coarse one, the nearest peak within ``reach_px`` taken (misregistration); NaN where the
    coarse gradient is nil. Read on the edges' bounding box."""
    if not edges.any():
        return np.zeros(0, np.float32)
    bx, by, bw, bh = cv2.boundingRect(edges.view(np.uint8))
    pad = int(math.ceil(4 * _COARSE_PX)) + reach_px + 2  # the crop holds every gradient the edges read
    y0, y1 = max(by - pad, 0), min(by + bh + pad, gray.shape[0])
    x0, x1 = max(bx - pad, 0), min(bx + bw + pad, gray.shape[1])
    g = gray[y0:y1, x0:x1]
    return _peak_ratios(_grad(g, _FINE_PX), _grad(g, _COARSE_PX), edges[y0:y1, x0:x1], reach_px)


def _peak_ratios(fine: np.ndarray, coarse: np.ndarray, edges: np.ndarray, reach_px: int) -> np.ndarray:
    """Per pixel of ``edges`` (row-major order), the fine gradient magnitude's peak within
    ``reach_px`` over the coarse one's; NaN where the coarse gradient is nil."""
    k = np.ones((2 * reach_px + 1, 2 * reach_px + 1), np.uint8)
    f = cv2.dilate(fine, k)[edges]
    c = cv2.dilate(coarse, k)[edges]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 1e-3, f / np.maximum(c, 1e-3), np.nan).astype(np.float32)


def _blur_of(ratios: np.ndarray, min_px: int) -> float | None:
    """The blur (px) of a step edge whose fine-over-coarse peak ratio is the median of ``ratios``
    (:func:`edge_blur_px`); None with fewer than ``min_px`` finite ratios."""
    r = ratios[np.isfinite(ratios)]
    if r.size < min_px:
        return None
    m = float(np.median(r))
    if not m > 1.0 + 1e-6:
        return float("inf")  # no sharper at the fine scale than at the coarse: blurred past both
    return math.sqrt(max((_COARSE_PX**2 - m * m * _FINE_PX**2) / (m * m - 1.0), 0.0))


def edge_blur_px(gray: np.ndarray, edges: np.ndarray, reach_px: int = 2) -> float | None:
    """The blur (a Gaussian's sigma, px) of the edges at the pixels ``edges`` of ``gray``: from the
    ratio ``R`` of the gradient's peak at two scales, the nearest peak within ``reach_px`` taken
    (misregistration). A step edge blurred by ``s`` has a peak gradient proportional to
    ``1 / sqrt(s² + scale²)``, so ``s² = (c² - R² f²) / (R² - 1)`` with ``f``, ``c`` the fine and
    coarse scales; the median over the pixels. None with fewer than :data:`_MIN_EDGE_PX` pixels."""
    if int(edges.sum()) < _MIN_EDGE_PX:
        return None
    return _blur_of(_edge_ratios(gray, edges, reach_px), _MIN_EDGE_PX)


def _bin_blurs(ratios: np.ndarray, bins: np.ndarray) -> dict[int, float]:
    """The blur per orientation bin of the edges (:data:`_N_BINS`), where a bin holds enough pixels."""
    out = {}
    for b in range(_N_BINS):
        v = _blur_of(ratios[bins == b], _MIN_BIN_PX)
        if v is not None:
            out[b] = v
    return out


@dataclass(frozen=True)
class GoldenPhoto:
    """What :func:`assess_photo` compares a unit's photo with, computed once per golden."""

    mask: np.ndarray  # (H, W) bool: the product's pixels
    blur_px: float | None
    bin_blurs: dict[int, float]  # the golden's edge blur per orientation bin
    clipped_share: float
    chroma: float  # the 90th percentile of the channel spread (levels) over the product
    luminance: np.ndarray  # linear luminance (0-1) on every _STRIDE th row and column


@dataclass(frozen=True)
class PhotoQuality:
    """One photo's colour, exposure and focus against the golden's (:func:`assess_photo`)."""

    monochrome: bool
    clipped_share: float
    golden_clipped_share: float
    exposure_stops: float | None
    blur_px: float | None
    golden_blur_px: float | None

    @property
    def extra_blur_px(self) -> float | None:
        """The blur this photo adds to the golden's (golden px), or None when either is unknown."""
        if self.blur_px is None or self.golden_blur_px is None:
            return None
        if math.isinf(self.blur_px):
            return float("inf")
        return math.sqrt(max(self.blur_px**2 - self.golden_blur_px**2, 0.0))

    @property
    def overexposed(self) -> bool:
        """Clipped beyond the golden's share by :data:`CLIP_EXCESS` and :data:`OVER_STOPS` brighter."""
        return (self.clipped_share - self.golden_clipped_share > CLIP_EXCESS and self.exposure_stops is not None
                and self.exposure_stops > OVER_STOPS)

    def problems(self, *, relative_colour: bool, surface_blur_px: float = SURFACE_BLUR_PX
                 ) -> list[tuple[str, tuple[str, ...], str]]:
        """What this photo keeps from being judged: per cause, ``(what is wrong, the stages it keeps
        from being judged, what to change)``; the stages are ``"colour"``, ``"surface"`` and
        ``"dimensions"``. ``relative_colour``: colour is judged relative to the golden (no chart),
        so an exposure far from the golden's is a cause too. ``surface_blur_px``: the extra blur
        beyond which the surface is not judged (the dimensions' limit is :data:`MAX_EXTRA_BLUR_PX`)."""
        out: list[tuple[str, tuple[str, ...], str]] = []
        if self.monochrome:
            out.append(("it has no colour (its three channels are equal: a monochrome camera or a grey copy) where "
                        "the golden's has", ("colour", "surface"), "photograph in colour"))
        if self.overexposed:
            assert self.exposure_stops is not None  # overexposed needs it
            out.append((f"overexposed: {100 * self.clipped_share:.0f} % of the product clipped at 0 or 255 (the "
                        f"golden's {100 * self.golden_clipped_share:.0f} %), {self.exposure_stops:.1f} stops brighter "
                        "than the golden's", ("colour", "surface", "dimensions"),  # a clipped edge moves
                        "lower the exposure"))
        elif relative_colour and self.exposure_stops is not None and abs(self.exposure_stops) > EXPOSURE_STOPS:
            out.append((f"{abs(self.exposure_stops):.1f} stops {'darker' if self.exposure_stops < 0 else 'brighter'} "
                        f"than the golden's over the product (limit {EXPOSURE_STOPS:g} without a chart): too few "
                        "levels to compare it with the golden", ("colour", "surface"), "expose as the golden was"))
        extra = self.extra_blur_px
        if extra is not None and extra > MAX_EXTRA_BLUR_PX:
            said = "blurred past measuring" if math.isinf(extra) else f"blurred {extra:.1f} px"
            limits = f"limit {MAX_EXTRA_BLUR_PX:.1f} px for dimensions"
            stages: tuple[str, ...] = ("dimensions",)
            if extra > surface_blur_px:
                stages += ("surface",)
                limits += f", {surface_blur_px:.1f} px for the surface"
            out.append((f"its edges are {said} (golden px, a Gaussian's sigma) beyond the golden's "
                        f"({self.golden_blur_px or 0.0:.1f} px; {limits})", stages,
                        "focus, hold the camera steady, or light the product for a shorter exposure"))
        return out

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None, n: int = 3) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), n)
        return {"monochrome": self.monochrome, "clipped_share": r(self.clipped_share),
                "golden_clipped_share": r(self.golden_clipped_share), "exposure_stops": r(self.exposure_stops, 2),
                "edge_blur_px": r(self.blur_px, 2), "golden_edge_blur_px": r(self.golden_blur_px, 2),
                "extra_blur_px": None if self.extra_blur_px is None else
                (None if math.isinf(self.extra_blur_px) else round(self.extra_blur_px, 2))}


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


#: The colour, clipping and exposure measures read every this-many-th row and column (a share or a
#: median over the product does not need every pixel: 16 times faster).
_STRIDE = 4


def _clipped(rgb: np.ndarray, mask: np.ndarray) -> float:
    n = int(np.count_nonzero(mask))
    if n == 0:
        return 0.0
    inside = cv2.inRange(rgb, (1, 1, 1), (254, 254, 254)) > 0  # every channel off 0 and 255
    return float(np.count_nonzero(mask & ~inside)) / n


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """Per pixel, the largest difference between two channels (levels)."""
    r, g, b = cv2.split(rgb)
    return cv2.max(cv2.max(cv2.absdiff(r, g), cv2.absdiff(g, b)), cv2.absdiff(r, b))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Linear luminance (0-1) per pixel of an sRGB-encoded uint8 image."""
    return (_LUT_DECODE32[rgb] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)


def _edge_blurs(gray: np.ndarray, mask: np.ndarray) -> tuple[float | None, dict[int, float]]:
    """The blur (px) of an image's own strongest edges over ``mask``, over them all and per
    orientation bin (:func:`_bin_blurs`). The edges are the ridges of the coarse scale's gradient
    magnitude (a pixel at least as strong as its two neighbours along its gradient, as Canny's
    non-maximum suppression), the strongest :data:`_EDGE_SHARE` of the interior's pixels' worth:
    a blur lowers the coarse gradient least, so a shaken photo's blurred edges stay in the set,
    and the ridge keeps the pixels beside a thin trace out of it (where the fine gradient is nil:
    DeepPCB's scans, read 3 px beside their traces, read "no sharper at 1 px than at 3"). Each photo
    is read at its own edges, so neither a misregistration nor a pre-aligned pair's offset moves
    the reading (DeepPCB's pairs, ``registration: none``, read at the template's edges: 8 of 100
    test scans "blurred past measuring" in one orientation, 2-3 px off the template's traces)."""
    inside = mask.copy()
    inside[:4, :] = inside[-4:, :] = False
    inside[:, :4] = inside[:, -4:] = False
    if int(np.count_nonzero(inside)) < _MIN_EDGE_PX:
        return None, {}
    bx, by, bw, bh = cv2.boundingRect(inside.view(np.uint8))
    pad = int(math.ceil(4 * _COARSE_PX)) + 2  # the crop holds every gradient its pixels read
    y0, y1 = max(by - pad, 0), min(by + bh + pad, gray.shape[0])
    x0, x1 = max(bx - pad, 0), min(bx + bw + pad, gray.shape[1])
    gray, inside = gray[y0:y1, x0:x1], inside[y0:y1, x0:x1]
    gx, gy = _grad_xy(gray, _COARSE_PX)
    mag = cv2.magnitude(gx, gy)
    # the normal's orientation modulo its polarity, in 4 bins of 45 degrees about 0, 45, 90, 135
    ax, ay, t = np.abs(gx), np.abs(gy), np.float32(math.tan(math.pi / 8))
    bins = np.where(ay <= t * ax, 0, np.where(ax <= t * ay, 2, np.where(gx * gy > 0, 1, 3))).astype(np.int8)
    ridge = np.zeros_like(inside)
    for b, (dx, dy) in enumerate(((1, 0), (1, 1), (0, 1), (-1, 1))):  # the normal's direction per bin
        fwd = np.roll(mag, (-dy, -dx), axis=(0, 1))
        back = np.roll(mag, (dy, dx), axis=(0, 1))
        ridge |= (bins == b) & (mag >= fwd) & (mag >= back)
    ridge &= inside & (mag > 0)
    vals = mag[ridge]
    if vals.size < _MIN_EDGE_PX:
        return None, {}
    n = max(_MIN_EDGE_PX, int(_EDGE_SHARE * int(inside.sum())))
    thr = float(np.partition(vals, vals.size - n)[vals.size - n]) if vals.size > n else 0.0
    edges = ridge & (mag >= thr)
    ratios = _peak_ratios(_grad(gray, _FINE_PX), mag, edges, 1)  # the coarse magnitude found the ridges
    return _blur_of(ratios, _MIN_EDGE_PX), _bin_blurs(ratios, bins[edges])


def golden_photo(golden: np.ndarray, product_mask: np.ndarray | None) -> GoldenPhoto:
    """The golden's side of :func:`assess_photo` (its product pixels: ``product_mask``, or the
    whole frame)."""
    mask = np.ones(golden.shape[:2], bool) if product_mask is None else np.asarray(product_mask, bool)
    blur, bins = _edge_blurs(_gray(golden), mask)
    sub, msub = golden[::_STRIDE, ::_STRIDE], mask[::_STRIDE, ::_STRIDE]
    return GoldenPhoto(mask=mask, blur_px=blur, bin_blurs=bins, clipped_share=_clipped(sub, msub),
                       chroma=float(np.percentile(_chroma(sub)[msub], 90)) if msub.any() else 0.0,
                       luminance=_luminance(sub))


def assess_photo(warped: np.ndarray, valid: np.ndarray, golden: GoldenPhoto) -> PhotoQuality:
    """The unit's photo, warped into golden px (``valid``: the pixels it covers), against the golden's."""
    # away from the photo's own border in golden px (the warp's edge is no edge of the product)
    inner = cv2.erode(np.asarray(valid, np.uint8), np.ones((2 * _BORDER_PX + 1, 2 * _BORDER_PX + 1), np.uint8)) > 0
    mask = golden.mask & inner
    if not mask.any():
        return PhotoQuality(False, 0.0, golden.clipped_share, None, None, golden.blur_px)
    sub, msub = warped[::_STRIDE, ::_STRIDE], mask[::_STRIDE, ::_STRIDE]
    chroma = _chroma(sub)[msub]
    mono = bool(chroma.size) and bool(np.mean(chroma <= MONO_LEVELS) >= MONO_SHARE) \
        and golden.chroma >= GOLDEN_CHROMA_LEVELS
    # per pixel against the golden, where neither is clipped nor black (an overexposed light product
    # has most of its pixels at white, a colour fault of a part a few of them)
    lu, lg = _luminance(sub), golden.luminance
    fine = msub & (cv2.inRange(sub, (1, 1, 1), (254, 254, 254)) > 0) & (lg > _MIN_LUMINANCE) & (lu > 0)
    stops = float(np.log2(np.median(lu[fine] / lg[fine]))) if int(fine.sum()) >= _MIN_EXPOSURE_PX else None
    # the unit's own edges over the product, per orientation: the one it blurs most beyond the golden's
    blur, bins = _edge_blurs(_gray(warped), mask)
    gblur = golden.blur_px
    worst = -1.0
    for b, ub in bins.items():
        gb = golden.bin_blurs.get(b)
        if gb is None or math.isinf(gb):  # the golden itself is not read there
            continue
        extra = float("inf") if math.isinf(ub) else math.sqrt(max(ub * ub - gb * gb, 0.0))
        if extra > worst:
            worst, blur, gblur = extra, ub, gb
    return PhotoQuality(mono, _clipped(sub, msub), golden.clipped_share, stops, blur, gblur)
