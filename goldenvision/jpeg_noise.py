"""What a photo's JPEG compression may have changed, from the quantisation its pixels show.

A JPEG stores each 8 x 8 block of luma (Y) and of the two chroma planes (Cb, Cr, usually at half
resolution) as DCT coefficients, each rounded to a multiple of its table's step ``Q``. The
rounding error of a coefficient lies within ``±Q/2``: uniform (variance ``Q²/12``) where the
coefficient was kept (``|c| ≥ Q/2``), and the coefficient itself where it was rounded to zero
(smaller, mostly much smaller). A coarse table (quality 60-75: a phone's "save smaller", a
messaging app's re-compression) therefore adds to a photo, block by block, an error that
depends on what the block holds: a few levels at a print's edges and in busy texture, next to
nothing on a plain surface. It is correlated over the block (8 px; 16 px in subsampled chroma),
so averaging over a defect's area does not remove it as it removes sensor noise.

:func:`jpeg_info` reads the tables and the chroma subsampling from the file's header;
:func:`error_variance` estimates, from the decoded pixels and those tables, the variance of the
compression error per pixel and RGB channel (constant over each block), as seen after a
Gaussian low-pass of ``sigma_px`` (the anomaly stage compares photos blurred by
:data:`goldenvision.anomaly.variation.BLUR_SIGMA_PX`): each coefficient's error variance is
weighed by the squared response of that blur at the coefficient's frequency. Only what the
photo's tables add beyond a reference's (``reference=``; the pipeline's is the quality whose
rounding the anomaly stage's floor already holds, ``goldenvision.pipeline.JPEG_FLOOR_QUALITY``)
is counted, per coefficient ``max(Q² - Q_ref², 0) / 12``: a photo at the reference's quality or
finer adds nothing; one at 70 adds its steps' excess.

The zeroed coefficients' share (:data:`ZEROED_SHARE` of the uniform variance) is measured, not
tuned on verdicts (``scripts/bench_jpeg.py``; docs/DESIGN.md, session 30). The tables need not be
the file's:
:func:`pixel_quality` reads the quality the pixels themselves show (a JPEG decoded and saved again
at 100, as PNG, or handed over as an array keeps its coefficients on the coarse lattice), and
:func:`table_of_quality` gives that quality's IJG tables. :func:`recompressed` encodes an image at a
quality, at a phase of the block grid (:data:`GRID_PHASES`): what that compression does to a
reading of the golden (``goldenvision.pipeline.Inspector._jpeg_dimension_uncertainty``).
The estimate ignores clipping at 0 and 255 and the decoder's chroma upsampling filter.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["JpegInfo", "jpeg_info", "error_variance", "ZEROED_SHARE", "estimated_quality", "pixel_quality", "table_of_quality",
           "recompressed", "GRID_PHASES"]

#: Share of the uniform rounding variance ``Q²/12`` counted for a coefficient the file holds as 0
#: in a block that keeps some AC coefficient (its true value was within ``±Q/2``, mostly near 0; in a
#: plain block, near 0: none counted). Measured on the zoo's station photos (lossless, 9 families, 2
#: units each) JPEG-encoded at 50-75: the actual rounding error seen through a 1 px blur, beyond the
#: same photo's at quality 80, summed over the frames, over the predicted excess over 80's steps:
#: 0.68-0.88 at 0.05; 0.46-0.60 at 0.1, 0.24-0.31 at 0.25, 1.28-1.67 at 0 (``scripts/bench_jpeg.py``).
ZEROED_SHARE = 0.05

# the IJG (libjpeg) base tables at quality 50, natural order
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64)


@dataclass(frozen=True)
class JpegInfo:
    """The quantisation of a JPEG file.

    Attributes
    ----------
    luma : tuple of 64 int
        The luma table's steps, natural (row-major) order.
    chroma : tuple of 64 int or None
        The chroma table's (the first component's after luma); None for a greyscale JPEG.
    chroma_block : tuple of int
        Chroma subsampling (x, y): (2, 2) for 4:2:0, (2, 1) for 4:2:2, (1, 1) for 4:4:4.
    """

    luma: tuple[int, ...]
    chroma: tuple[int, ...] | None
    chroma_block: tuple[int, int] = (2, 2)

    @property
    def quality(self) -> float:
        """The IJG quality (1-100) whose luma table is nearest this file's (an estimate: cameras
        use their own tables)."""
        return estimated_quality(np.asarray(self.luma, np.float64))


def estimated_quality(luma: np.ndarray) -> float:
    """IJG quality whose scaled luma table is nearest ``luma`` (64 steps, natural order) in log."""
    ll = np.log(np.maximum(np.asarray(luma, np.float64), 1.0))
    errs = [float(np.abs(np.log(_ijg_table(q)) - ll).mean()) for q in range(1, 101)]
    return float(int(np.argmin(errs)) + 1)


def jpeg_info(data: bytes) -> JpegInfo | None:
    """The quantisation of a JPEG file's bytes; None for any other format or an unreadable header."""
    from PIL import Image

    if not data[:3] == b"\xff\xd8\xff":
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            q = getattr(im, "quantization", None)
            layers = getattr(im, "layer", None)
            if not q or not layers:
                return None
            # layer: (component id, h, v, table index) per component
            luma_t = q.get(layers[0][3])
            if luma_t is None or len(luma_t) != 64:
                return None
            chroma_t, block = None, (1, 1)
            if len(layers) >= 3:
                chroma_t = q.get(layers[1][3])
                if chroma_t is None or len(chroma_t) != 64:
                    return None
                hmax, vmax = max(int(c[1]) for c in layers), max(int(c[2]) for c in layers)
                block = (max(hmax // max(int(layers[1][1]), 1), 1), max(vmax // max(int(layers[1][2]), 1), 1))
            return JpegInfo(luma=tuple(int(v) for v in luma_t), chroma=None if chroma_t is None else tuple(int(v) for v in chroma_t),
                            chroma_block=block)
    except Exception:  # a header Pillow cannot parse: the decoder reports it, not this
        return None


def _dct_matrix() -> np.ndarray:
    n = np.arange(8)
    d = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16.0) * np.sqrt(2.0 / 8.0)
    d[0] /= np.sqrt(2.0)
    return d


_D = _dct_matrix()


def _blocks(plane: np.ndarray) -> np.ndarray:
    """(nby, nbx, 8, 8) DCT coefficients of a plane (edge-padded to whole blocks), level-shifted."""
    h, w = plane.shape
    p = np.pad(plane.astype(np.float32), ((0, -h % 8), (0, -w % 8)), mode="edge") - np.float32(128.0)
    b = p.reshape(p.shape[0] // 8, 8, p.shape[1] // 8, 8).transpose(0, 2, 1, 3)
    d = _D.astype(np.float32)
    return np.matmul(np.matmul(d, b), d.T)


def _block_variance(plane: np.ndarray, q: np.ndarray, q_ref: np.ndarray, sigma_px: float) -> np.ndarray:
    """Per-block error variance (nby, nbx) of a decoded plane with table ``q`` beyond ``q_ref``."""
    c = _blocks(plane)
    kept = np.abs(c) >= 0.5 * q
    excess = np.maximum(q * q - q_ref * q_ref, 0.0) / 12.0
    w = np.exp(-(sigma_px * np.pi * np.arange(8) / 8.0) ** 2)  # squared Gaussian response per frequency
    w2 = np.outer(w, w) / 64.0
    ac = kept.copy()
    ac[..., 0, 0] = False
    busy = ac.any(axis=(2, 3), keepdims=True)  # a plain block's zeroed coefficients were near 0
    share = np.where(kept, 1.0, np.where(busy, ZEROED_SHARE, 0.0))
    per = share * (excess * w2)
    return per.sum(axis=(2, 3))


def _expand(bv: np.ndarray, bx: int, by: int) -> np.ndarray:
    """A chroma plane's block map at the luma's block resolution."""
    return np.repeat(np.repeat(bv, by, axis=0), bx, axis=1)


def error_variance(rgb: np.ndarray, info: JpegInfo, *, sigma_px: float = 1.0,
                   reference: JpegInfo | None = None) -> np.ndarray:
    """Estimated variance of the compression error, (H, W, 3) float32 in 8-bit RGB levels².

    Parameters
    ----------
    rgb : ndarray (H, W, 3) uint8
        The decoded photo, in the file's stored orientation (the block grid starts at its top-left).
    info : JpegInfo
        The file's tables.
    sigma_px : float, keyword-only
        Gaussian low-pass the error is seen through, px of this photo.
    reference : JpegInfo, optional
        Tables whose rounding the comparison already holds (the golden captures'): only each
        step's excess over the reference's counts. None: the whole rounding counts.
    """
    h, w = rgb.shape[:2]
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)  # JFIF full range; planes Y, Cr, Cb
    ql = np.asarray(info.luma, np.float32).reshape(8, 8)
    ql_ref = np.zeros((8, 8), np.float32) if reference is None else np.asarray(reference.luma, np.float32).reshape(8, 8)
    vy = _block_variance(ycc[..., 0], ql, ql_ref, sigma_px)  # (nby, nbx) per 8 x 8 luma block
    if info.chroma is None:
        var = np.repeat(vy[..., None], 3, axis=2)
    else:
        bx, by = info.chroma_block
        qc = np.asarray(info.chroma, np.float32).reshape(8, 8)
        qc_ref = (np.zeros((8, 8), np.float32) if reference is None or reference.chroma is None
                  else np.asarray(reference.chroma, np.float32).reshape(8, 8))
        out = []
        for k in (1, 2):  # Cr, Cb
            p = ycc[..., k]
            if bx > 1 or by > 1:
                p = cv2.resize(p, (-(-w // bx), -(-h // by)), interpolation=cv2.INTER_AREA)
            out.append(_expand(_block_variance(p, qc, qc_ref, sigma_px / max(bx, by)), bx, by)[: vy.shape[0], : vy.shape[1]])
        vcr, vcb = out
        var = np.stack([vy + 1.402**2 * vcr,
                        vy + 0.344136**2 * vcb + 0.714136**2 * vcr,
                        vy + 1.772**2 * vcb], axis=-1)
    full = np.repeat(np.repeat(var.astype(np.float32), 8, axis=0), 8, axis=1)
    return np.ascontiguousarray(full[:h, :w])

def _ijg_table(quality: float, base: np.ndarray = _IJG_LUMA) -> np.ndarray:
    q = float(np.clip(quality, 1, 100))
    s = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return np.clip(np.floor((base * s + 50.0) / 100.0), 1, 255)


_IJG_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, np.float64)


#: Median lattice fit (mean ``cos(2π c / Q)``) a quality's steps need (:func:`pixel_quality`), before
#: the best fit among the next few qualities is taken: the zoo's station photos encoded at 40-90 and
#: its hand-held photos (68-90) read within 1 of their quality (``scripts/bench_jpeg.py``).
LATTICE_FIT = 0.7

# low AC frequencies whose coefficients are kept often enough to show their lattice
_PROBE = [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1)]
_PROBE_MAX = 20000  # coefficients per frequency read at most


def pixel_quality(rgb: np.ndarray) -> float | None:
    """The IJG quality a decoded photo's luma shows, whatever its file holds now (a JPEG decoded
    and saved again at 100, a PNG, an array): its DCT coefficients on the 8 x 8 grid at the
    photo's top-left sit on a lattice of that quality's steps. The fit of a quality is the median,
    over the :data:`_PROBE` frequencies, of the mean ``cos(2π c / Q)`` over their coefficients not
    rounded to 0. From the lowest quality that fits (:data:`LATTICE_FIT` or more), the best fit
    within the next 8 qualities is the answer (raised while its steps there stay the same); None
    when none below 96 fits: never compressed, compressed finer, or cropped off the grid after
    compression (not searched)."""
    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # JFIF's Y (the same weights)
    h, w = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    if h < 64 or w < 64:
        return None
    c = _blocks(y[:h, :w])
    probes = [c[..., u, v].ravel() for u, v in _PROBE]
    probes = [x[np.abs(x) >= 2.0] for x in probes]  # not rounded to 0 (a re-save at 100 moves them < 1)
    probes = [x[:: max(1, x.size // _PROBE_MAX)] for x in probes]  # a large photo: an even sample

    def steps(q: int) -> np.ndarray:
        t = _ijg_table(q).reshape(8, 8)
        return np.array([t[u, v] for u, v in _PROBE])

    cache: dict[tuple[int, float], float | None] = {}

    def fit(i: int, s: float) -> float | None:
        if (i, s) not in cache:
            x = probes[i][np.abs(probes[i]) >= 0.5 * s]  # on the lattice, these are its non-zero points
            cache[i, s] = float(np.cos(x * np.float32(2 * np.pi / s)).mean()) if s >= 3 and x.size >= 200 else None
        return cache[i, s]

    def score(q: int) -> float:
        fits = [f for f in (fit(i, float(s)) for i, s in enumerate(steps(q))) if f is not None]
        return float(np.median(fits)) if len(fits) >= 3 else -1.0

    for q in range(20, 96):
        if score(q) >= LATTICE_FIT:
            # a slightly finer table's steps may fit nearly as well (8 against 9: cos 0.77): the best
            # fit within the next few qualities is the one (the first of equals)
            near = list(range(q, min(q + 8, 95) + 1))
            best = max(near, key=lambda k: (round(score(k), 2), -k))
            while best < 95 and np.array_equal(steps(best + 1), steps(best)):
                best += 1
            return float(best)
    return None


def table_of_quality(quality: float, chroma_block: tuple[int, int] = (2, 2)) -> JpegInfo:
    """The IJG tables of a quality (what :func:`pixel_quality` found), as a :class:`JpegInfo`."""
    return JpegInfo(luma=tuple(int(v) for v in _ijg_table(quality)),
                    chroma=tuple(int(v) for v in _ijg_table(quality, _IJG_CHROMA)), chroma_block=chroma_block)


#: Shifts (dx, dy) px of an image against the JPEG block grid for :func:`recompressed`: eight
#: phases spread over the 16 x 16 px macroblock of 4:2:0 chroma (each of the 8 x 8 luma phases'
#: halves at least once), so that a statistic over them does not hang on where one photo's grid fell.
GRID_PHASES = ((0, 0), (4, 8), (8, 4), (12, 12), (2, 10), (10, 2), (6, 14), (14, 6))


def recompressed(rgb: np.ndarray, quality: float, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 JPEG-encoded at IJG ``quality`` with 4:2:0 chroma (what a camera or
    a phone writes by default; OpenCV's libjpeg) and decoded, with the content moved ``shift``
    (dx, dy) px against the block grid while encoded (wrapped round the border; moved back after)."""
    dx, dy = int(shift[0]) % 16, int(shift[1]) % 16
    img = np.ascontiguousarray(np.roll(rgb, (dy, dx), axis=(0, 1))[..., ::-1]) if (dx or dy) else \
        np.ascontiguousarray(rgb[..., ::-1])
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(round(float(quality)))])
    if not ok:
        raise ValueError(f"recompressed: OpenCV could not encode a JPEG at quality {quality}")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if dec is None:
        raise ValueError(f"recompressed: OpenCV could not decode its own JPEG at quality {quality}")
    out = dec[..., ::-1]
    return np.ascontiguousarray(np.roll(out, (-dy, -dx), axis=(0, 1)) if (dx or dy) else out)
