"""Structure residual: what no small local change of the golden explains (internal).

The variation model (:mod:`.variation`) tolerates misregistration twice over, per pixel: a
min/max band over ``±shift_px`` of the blurred golden mean and a spread term
``grad_px · |∇mean|`` (dilated). On a structure only a few px across (an 0805 chip body of
about 5 x 6 px at 4.8 px/mm), every pixel lies in the blurred edge of its neighbours: the edge
term alone is ~13-20 grey levels at the body's centre where the statistical spread is ~4, so a
whole part gone or moved is "explained" as misregistration, because each pixel may pick its
own shift (issue 13, found on the zoo's ``pcba`` family).

A genuine misregistration is one small displacement ``δ`` shared by a neighbourhood and
predicts a signed difference ``u - E ≈ -∇E · δ`` (Lucas & Kanade, IJCAI 1981). Here the local
model of a good unit also allows a focus change ``γ ∇²E`` and a contrast (gloss) change
``α (E - Ē)``; per pixel the parameters are fitted over a Gaussian window by weighted least
squares (channels whitened by their spread; a small ridge keeps flat or one-directional windows
near 0, the aperture problem), one Gauss-Newton step for zones (``iterations=2`` resamples the
golden at the first displacement and fits again: larger shifts, +35 % anomaly latency), bounded (``|δ| <= shift_px + grad_px``, ``|γ| <= 0.5`` px², ``-0.5 <= α <= 1``),
removed, and the residual is judged against the zone's spread without its misregistration term.
In zones the focus and contrast changes removed are those of each pixel's surroundings outside
its window (``AnomalyConfig.structure_context``, :func:`_fit_with_context`): fitted over the
window itself they read a small dark part gone (an 0805 body between its terminations) as the
window's contrast halved.
Only the Taylor remainder ``½ |∇²E| |δ|²`` is tolerated on top. A part that is gone or moved
does not fit one small change of its surroundings and keeps its contrast; a unit shifted by a
fraction of a pixel, noisier, softer, glossier or re-toned does not. The zone's raw score is the
larger of this residual and the variation model's.

Why only once production units are taught (``add_good``, :data:`MIN_GOOD_UNITS`): parts of one
product also move against each other from unit to unit, and at such scales that motion is as
large as a small part (the zoo's zipper: the chain's phase, ±0.3 mm = ±1.4 px at 4.8 px/mm, opens
and closes the 2 px gap between the last tooth and the slider; an 0805 body is 4-5 px). The
golden captures are re-photographs of one physical unit and cannot tell the two apart: with
them alone the residual flagged 6 of 7 good zippers. Held-out scores of taught production units
calibrate the zone's threshold to that motion, and their variance enters the spread.

Zones of a type whose structure every unit shares (:data:`GOLDEN_STRUCTURE_TYPES`: print,
stitching, other) are the exception (:func:`golden_structure`): they judge it from the golden
captures alone, a residual counting only where it exceeds the expected largest ``|z|`` over the
zone's independent samples (:func:`expected_max_z`), since one unit's captures cannot show the
next unit's. Without it a skipped stitch (zoo apparel) or a missing 0805 (zoo pcba at 4.8 px/mm)
was never found before units were taught.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .unit_noise import extra_floor2

if TYPE_CHECKING:
    from ._zone import _Zone
    from .model import AnomalyModel

__all__ = ["GOLDEN_STRUCTURE_TYPES", "MIN_GOOD_UNITS", "ON_TEXTURE_SHARE", "TEXTILE_DEFECT_TYPES", "on_texture", "expected_max_z", "golden_structure", "structure_residual",
           "structure_zone_raw"]

#: Production units (``add_good``) a model needs before its ``variation`` zones judge structure:
#: the golden captures are one physical unit and cannot show how far parts move against each
#: other from unit to unit (see the module doc); the held-out scores of taught units can.
MIN_GOOD_UNITS = 5

#: Ridge of the normal equations (whitened units): keeps the parameters near 0 where the golden
#: is flat or a window's structure is one-directional (the aperture problem).
_RIDGE = 1e-2
#: Bounds of the local blur change ``γ`` (px², ``u ≈ E + γ ∇²E``: a Gaussian blur of variance
#: ``2 γ``): focus and the golden mean's own blur (an average of slightly misregistered captures
#: is softer than any one of them) differ by up to about 1 px sigma either way.
_BLUR_MAX = 0.5
#: Bounds of the local contrast change ``α`` (``u ≈ E + α (E - Ē)``): gloss, a highlight's
#: strength, a print's density; the structure may halve or double its contrast, not vanish.
_CONTRAST_MIN, _CONTRAST_MAX = -0.5, 1.0


def _grad(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx, gy


def _split(a: np.ndarray) -> list[np.ndarray]:
    """The channel planes of an (h, w, c) array, each contiguous (h, w)."""
    return [np.asarray(p) for p in cv2.split(a)]


def _blur_planes(planes: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    """Gaussian blur of 2-D float32 planes, one OpenCV call per plane (the same sums as blurring
    them interleaved four at a time, without interleaving and splitting them: 1.4-2.6x faster
    at sigma 2-8 px on 640 x 480, scripts/bench_seal_memory.py)."""
    return [cv2.GaussianBlur(p, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for p in planes]


def _solve_spd(a: list[list[np.ndarray]], b: list[np.ndarray]) -> list[np.ndarray]:
    """Per-pixel solution of ``A p = b`` for symmetric positive definite ``A`` (n x n planes,
    only ``a[i][j]`` with ``j <= i`` read), by an elementwise Cholesky factorisation. The lists
    ``a`` and ``b`` are consumed (each entry dropped once read: the planes are large)."""
    n = len(b)
    done = np.empty(0, np.float32)
    low: list[list[np.ndarray]] = [[np.empty(0, np.float32)] * n for _ in range(n)]
    tmp = np.empty_like(b[0])  # one product at a time (the planes are large)

    def less(first: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``first - sum(u * v)``, subtracted in order, as a new array (``first`` is not changed)."""
        acc = None
        for u, v in pairs:
            np.multiply(u, v, out=tmp)
            if acc is None:
                acc = first - tmp
            else:
                acc -= tmp
        return first.copy() if acc is None else acc

    for i in range(n):
        for j in range(i + 1):
            acc = less(a[i][j], [(low[i][k], low[j][k]) for k in range(j)])
            a[i][j] = done
            if i == j:
                np.maximum(acc, np.float32(1e-12), out=acc)
                low[i][i] = np.sqrt(acc, out=acc)
            else:
                acc /= low[j][j]
                low[i][j] = acc
    y: list[np.ndarray] = []
    for i in range(n):
        acc = less(b[i], [(low[i][k], y[k]) for k in range(i)])
        b[i] = done
        acc /= low[i][i]
        y.append(acc)
    x: list[np.ndarray] = [np.empty(0, np.float32)] * n
    for i in reversed(range(n)):
        acc = y[i]  # read once, here: changed in place
        for k in range(i + 1, n):
            acc -= np.multiply(low[k][i], x[k], out=tmp)
        acc /= low[i][i]
        x[i] = acc
    return x


def structure_residual(
    golden: np.ndarray,
    unit: np.ndarray,
    inv_spread: np.ndarray,
    *,
    window_sigma_px: float,
    max_shift_px: float,
    iterations: int = 2,
    context_sigma_px: float = 0.0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel z of the unit after the locally best small change of the golden.

    The local model of a good unit is ``u ≈ E - ∇E · δ + γ ∇²E + α (E - Ē)`` (per pixel
    over a Gaussian window of sigma ``window_sigma_px``; ``Ē`` the golden's mean over that
    window): a displacement ``δ`` (misregistration, placement), a blur change ``γ`` (focus)
    and a contrast change ``α`` (gloss), shared by the three channels and the window. The
    parameters are fitted by weighted least squares (each channel whitened by its spread),
    bounded (``|δ| <= max_shift_px``, ``|γ| <= 0.5`` px², ``-0.5 <= α <= 1``; a vector out of
    bounds is scaled back into them), and removed.

    Parameters
    ----------
    golden : ndarray, shape (h, w, 3), float32
        Prepared golden mean in the unit's colours (0-255).
    unit : ndarray, shape (h, w, 3), float32
        Prepared unit (0-255).
    inv_spread : ndarray, shape (h, w, 3), float32
        1 / statistical spread per channel (no misregistration term); 0 = no data.
    window_sigma_px : float, keyword-only
        Gaussian sigma (px) of the neighbourhood that shares one set of parameters (> 0).
    max_shift_px : float, keyword-only
        Largest displacement (px) accepted as misregistration.
    iterations : int, keyword-only
        Gauss-Newton steps (the golden is resampled at the displacement found before the next).
    context_sigma_px : float, keyword-only
        When larger than ``window_sigma_px``: the focus and contrast changes ``γ, α`` are
        estimated from the pixel's surroundings *outside* its own window, over the ring weight
        ``exp(-r²/2C²) - exp(-r²/2S²)`` (``C`` this sigma, ``S`` the window's; 0 at the pixel,
        >= 0 everywhere) and removed, the displacement still from the window
        (:func:`_fit_with_context`). 0 (the default) = all four from the window.
    valid : ndarray, shape (h, w), bool, or None, keyword-only
        Pixels whose unit data the context may use (None = all): the ring reaches several window
        sigmas, past the eroded border of a warp's invalid pixels.

    Returns
    -------
    ndarray, shape (h, w), float32, >= 0
        ``max_c max(|u - model| - ½ |∇²E| |δ|², 0) / spread`` (the Taylor remainder of the
        displacement is tolerated).
    """
    s = max(float(window_sigma_px), 0.5)
    h, w = golden.shape[:2]
    # channel planes throughout (each filter and product per plane gives the same numbers as on
    # the interleaved image; the sums over the channels then add contiguous planes)
    unit_c, inv_c, cur = _split(unit), _split(inv_spread), _split(golden)
    dx_tot = dy_tot = None
    for it in range(max(1, int(iterations))):
        grads = [_grad(c) for c in cur]
        lap = [cv2.Laplacian(c, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT) for c in cur]
        hp = [c - cv2.GaussianBlur(c, (0, 0), s, borderType=cv2.BORDER_REFLECT) for c in cur]
        d = [u - c for u, c in zip(unit_c, cur)]
        if it + 1 >= iterations:  # the last step: the planes below replace them (peak memory)
            del unit_c, cur
        basis = [[-gx for gx, _ in grads], [-gy for _, gy in grads], lap, hp]
        del grads  # (the basis holds their negatives: peak memory)
        ctx = float(context_sigma_px)
        lim = np.float32(max_shift_px) if dx_tot is None else np.float32(np.inf)
        p = (_fit_with_context(basis, d, inv_c, s, ctx, lim, valid) if ctx > s
             else _fit(basis, d, inv_c, s))
        if dx_tot is not None:  # total displacement bounded: the increment is what is left of it
            tx, ty = dx_tot + p[0], dy_tot + p[1]
            r = np.sqrt(tx * tx + ty * ty)
            f = np.minimum(np.float32(1.0), np.float32(max_shift_px) / np.maximum(r, np.float32(1e-6)))
            p[0], p[1] = tx * f - dx_tot, ty * f - dy_tot
        if ctx <= s:  # (with a context, _fit_with_context bounded them)
            f = _bound_factor(p, lim)
            p = [pk * f for pk in p]
        if it + 1 < iterations:
            # Gauss-Newton: move the golden by the displacement found, fit again around it
            dx_tot = p[0] if dx_tot is None else dx_tot + p[0]
            dy_tot = p[1] if dy_tot is None else dy_tot + p[1]
            gxx, gyy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            cur = _split(cv2.remap(golden, gxx - dx_tot, gyy - dy_tot, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
            continue
        r2 = p[0] * p[0] + p[1] * p[1]
        zs = []
        for c in range(3):
            e = d[c]
            for pk, j in zip(p, basis):
                e -= j[c] * pk
            e = np.abs(e) - np.float32(0.5) * np.abs(lap[c]) * r2
            np.maximum(e, 0.0, out=e)
            e *= inv_c[c]
            zs.append(e)
        return np.asarray(cv2.max(cv2.max(zs[0], zs[1]), zs[2]))
    raise AssertionError("unreachable")


def _normal_planes(basis: list[list[np.ndarray]], d: list[np.ndarray], inv_spread: list[np.ndarray]
                   ) -> list[np.ndarray]:
    """Per-pixel terms of the normal equations of ``d ≈ sum_k p_k J_k``, channels whitened by
    ``inv_spread`` and summed: ``J_i·J_j`` (``j <= i``, row by row), then ``J_i·d``; (h, w) float32
    each. Every image is given as its three channel planes (numpy's reduction over a trailing axis
    of 3 is ~10x slower than adding contiguous planes)."""
    jw = [[jc * ic for jc, ic in zip(j, inv_spread)] for j in basis]
    dw = [dc * ic for dc, ic in zip(d, inv_spread)]
    n = len(jw)

    def csum(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]

    planes = [csum(jw[i], jw[j]) for i in range(n) for j in range(i + 1)]
    planes += [csum(jw[i], dw) for i in range(n)]
    return planes


def _solve_planes(planes: list[np.ndarray], n: int, *, consume: bool = False) -> list[np.ndarray]:
    """The parameters from the window-averaged normal equations (:func:`_normal_planes`, blurred),
    with the ridge on the diagonal. ``consume``: ``planes`` is emptied, so that each plane is
    freed once the factorisation has read it."""
    a: list[list[np.ndarray]] = [[np.empty(0, np.float32)] * n for _ in range(n)]
    k = 0
    for i in range(n):
        for j in range(i + 1):
            a[i][j] = planes[k]
            k += 1
        a[i][i] = a[i][i] + np.float32(_RIDGE)
    b = planes[k:]
    if consume:
        planes.clear()
    return _solve_spd(a, b)


def _fit(basis: list[list[np.ndarray]], d: list[np.ndarray], inv_spread: list[np.ndarray], s: float,
         blur: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None) -> list[np.ndarray]:
    """Per-pixel weighted least-squares parameters of ``d ≈ sum_k p_k J_k`` over a Gaussian window
    of sigma ``s`` (or the weights ``blur`` applies to the planes of the normal equations); every
    image as its channel planes (:func:`_normal_planes`)."""
    planes = _normal_planes(basis, d, inv_spread)
    planes = _blur_planes(planes, s) if blur is None else blur(planes)
    return _solve_planes(planes, len(basis), consume=True)


def _ring_blur_planes(planes: list[np.ndarray], inner: float, outer: float,
                      inner_blurred: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Planes averaged over the ring weight ``exp(-r²/2 outer²) - exp(-r²/2 inner²)``, normalised
    to unit sum: ``(outer² G_outer - inner² G_inner) / (outer² - inner²)`` with ``G`` the
    normalised Gaussian blurs (a continuous Gaussian of sigma ``s`` peaks at ``1 / (2 pi s²)``).
    ``inner_blurred``: the planes' blur at ``inner`` when the caller has it already.

    The lists are consumed (each entry is dropped once its ring plane is made), so that the ring's
    planes replace them one at a time: a full frame's planes are held about twice, not three times."""
    wo, wi = np.float32(outer * outer), np.float32(inner * inner)
    k = np.float32(1.0) / (wo - wi)
    done = np.empty(0, np.float32)
    out = []
    for i in range(len(planes)):  # (wo x - wi y) k, in place on the outer blur
        p = planes[i]
        x: np.ndarray = np.asarray(cv2.GaussianBlur(p, (0, 0), outer, borderType=cv2.BORDER_REFLECT))
        if inner_blurred is None:
            y = cv2.GaussianBlur(p, (0, 0), inner, borderType=cv2.BORDER_REFLECT)
        else:
            y, inner_blurred[i] = inner_blurred[i], done
        planes[i] = done
        del p
        x *= wo
        x -= wi * y
        x *= k
        del y
        out.append(x)
    return out


def _fit_with_context(basis: list[list[np.ndarray]], d: list[np.ndarray], inv_spread: list[np.ndarray], s: float,
                      context: float, max_shift: np.float32, valid: np.ndarray | None = None) -> list[np.ndarray]:
    """Parameters ``[δx, δy, γ, α]`` per pixel: the displacement of the joint fit over the window
    (bounded as :func:`structure_residual` bounds it without a context), and the focus and contrast
    changes ``γ, α`` fitted over the ring between the window (sigma ``s``) and its context (sigma
    ``context``), bounded.

    Why: a focus or gloss change is a property of the photo and of a material over a region, and
    is as present around a pixel as at it, while a small part gone is not. Fitted over the window
    itself and removed, they take up a part that is gone (a dark 0805 body between its tinned
    terminations, 5 x 6 px at 4.7 px/mm, reads as its window's contrast halved and softened,
    ``α = -0.5``: 4.4 z were left of its 7 on the zoo's ``pcba`` photographed by hand). The
    surroundings leave the pixel's own neighbourhood out as a CFAR detector's guard cells leave
    out the target's (Finn & Johnson, RCA Review 1968). The displacement keeps the window's own
    focus and contrast as nuisance parameters: fitted alone it grows where a thin structure is
    gone (a seam's skipped stitches), and with it the Taylor remainder it tolerates. Pixels not
    ``valid`` carry no weight in the ring."""
    n = len(basis)
    planes = _normal_planes(basis, d, inv_spread)
    local = _blur_planes(planes, s)
    # (each list of full-frame planes is consumed as the next is made: peak memory)
    if valid is None or valid.all():  # the ring's planes are the window's: their blur at s is done
        ring = _ring_blur_planes(planes, s, context, inner_blurred=list(local))
        p_loc = _solve_planes(local, n, consume=True)
    else:
        p_loc = _solve_planes(local, n, consume=True)
        # the ring's weights are the window's times ``valid`` (0 or 1 per pixel, in both factors of
        # every product): the same products, masked (exactly those of the masked weights)
        vf = valid.astype(np.float32)
        for pl in planes:
            pl *= vf
        ring = _ring_blur_planes(planes, s, context)
    f = _bound_factor(p_loc, max_shift)
    p_ctx = _solve_planes(ring, n, consume=True)
    zero = np.zeros_like(p_ctx[0])
    g = _bound_factor([zero, zero, p_ctx[2], p_ctx[3]], np.float32(np.inf))
    return [p_loc[0] * f, p_loc[1] * f, p_ctx[2] * g, p_ctx[3] * g]


def _bound_factor(p: list[np.ndarray], max_shift: np.float32) -> np.ndarray:
    """One factor per pixel that scales the parameter vector into its bounds (its direction is the fit's)."""
    eps = np.float32(1e-6)
    r = np.sqrt(p[0] * p[0] + p[1] * p[1])
    f = np.minimum(np.float32(1.0), max_shift / np.maximum(r, eps))
    f = np.minimum(f, np.float32(_BLUR_MAX) / np.maximum(np.abs(p[2]), eps))
    return np.minimum(f, np.where(p[3] > 0, np.float32(_CONTRAST_MAX) / np.maximum(p[3], eps),
                                  np.float32(-_CONTRAST_MIN) / np.maximum(-p[3], eps)))


#: Zone defect types whose structure every unit shares as the golden shows it, judged by the
#: residual from the golden captures alone (:func:`golden_structure`): a print (one plate or
#: screen), a seam (one stitch pattern) and ``other`` (assemblies placed by a machine, the
#: default of a zone the spec does not type). Not ``plating``: a highlight on polished metal moves
#: with the unit's tilt and the light by more than a small displacement, and plated assemblies
#: (a zipper's chain, a stone in its bezel) move against each other; nor ``finish``, a texture.
GOLDEN_STRUCTURE_TYPES = ("print", "stitching", "other")


def _defect_type(z: _Zone) -> str:
    return str(getattr(z.spec.defect_type, "value", z.spec.defect_type))


#: Zone defect types of pixel-statistics zones (``variation``) that lie on a textile, whose weave
#: differs from unit to unit like a grain: their spread gets the texture floor too (no low-pass:
#: a stitch is thinner than the low-pass of ``finish`` zones).
TEXTILE_DEFECT_TYPES = ("stitching",)


#: Share of a ``variation`` zone's pixels inside a ``texture_variation`` zone from which it lies on
#: that texture (:func:`on_texture`): most of it, as a print drawn a little past its letters.
ON_TEXTURE_SHARE = 0.5


def on_texture(model: AnomalyModel, z: _Zone) -> bool:
    """True when ``variation`` zone ``z`` lies on a texture that differs from unit to unit: a
    textile's own seam (:data:`TEXTILE_DEFECT_TYPES`, with ``structure_from_golden``), or a zone at
    least :data:`ON_TEXTURE_SHARE` inside a ``texture_variation`` zone (``nested_texture_floor``: an
    engraving on grain, a print on a fabric). The spread is one full-frame array, so the texture
    zone's term (:func:`.zone_variation.texture_spread`) is in the nested zone's spread already; what the golden
    captures cannot give it is a threshold: they are one unit, one realisation of the texture, and
    their leave-one-out scores never see another (zoo wood: the engraving zone's leave-one-out
    threshold stayed at ``var_floor``, and good boards' own grain reached 1.4x of it)."""
    if z.method != "variation":
        return False
    c = model.config
    if getattr(c, "structure_from_golden", False) and _defect_type(z) in TEXTILE_DEFECT_TYPES:
        return True
    if not getattr(c, "nested_texture_floor", False):
        return False
    cache = model.__dict__.setdefault("_on_texture", {})
    if z.spec.name not in cache:
        n = max(int(np.count_nonzero(z.mask)), 1)
        cache[z.spec.name] = any(
            int(np.count_nonzero(z.mask & t.mask)) >= ON_TEXTURE_SHARE * n
            for t in model.zones_ if t is not z and t.method == "texture_variation")
    return bool(cache[z.spec.name])


def golden_structure(model: AnomalyModel, z: _Zone) -> bool:
    """True when ``variation`` zone ``z`` judges the structure residual from the golden captures
    alone (``AnomalyConfig.structure_from_golden``): its type is one of
    :data:`GOLDEN_STRUCTURE_TYPES`, its spread is not floored by a textile's weave (except a seam's
    own zone, ``stitching``) and fewer than :data:`MIN_GOOD_UNITS` production units are taught
    (with more, every ``variation`` zone judges it, calibrated by their held-out scores).

    A structure 2-6 px across (a 2 px thread, an 0805 chip body at 4.8 px/mm) lies wholly inside
    the variation model's misregistration band (``±shift_px`` plus the edge term
    ``grad_px · |∇mean|``): a missing stitch or part is "explained" as misregistration (zoo
    apparel: the golden's stitch pixels read at most 3.3 z where the unit shows bare cloth;
    pcba: a missing resistor 1.4 z), so without the residual such defects were never found."""
    c = model.config
    dt = _defect_type(z)
    return (bool(getattr(c, "structure_from_golden", False)) and z.method == "variation"
            and float(getattr(c, "structure_window_px", 0.0) or 0.0) > 0
            and dt in GOLDEN_STRUCTURE_TYPES
            and (dt == "stitching" or z.spec.name not in getattr(model, "tex_sd_", {}))
            and getattr(model, "n_good_units_", 0) < MIN_GOOD_UNITS)


def expected_max_z(model: AnomalyModel, z: _Zone) -> float:
    """Expected largest ``|z|`` over the zone's independent aggregated samples, ``sqrt(2 ln N) + 1``,
    ``N = area / (4 pi sigma^2)`` with ``sigma`` the evidence's aggregation
    (:meth:`.model.AnomalyModel.aggregate_sigma_px`, at least 0.5 px), as
    :func:`.zone_variation.texture_floor` for a texture."""
    s = max(model.aggregate_sigma_px(z), 0.5)
    n = max(float(z.mask.sum()) / (4 * np.pi * s * s), 2.0)
    return float(np.sqrt(2 * np.log(n))) + 1.0


def _ink_overlaps(model: AnomalyModel, z: _Zone) -> Iterator[tuple[tuple[slice, slice], np.ndarray, np.ndarray]]:
    """For each texture zone's structure material (``AnomalyModel.ink_var_``, an engraving's char,
    a print's ink; :func:`.zone_variation.structure_pixels`) overlapping zone ``z``'s bbox: the
    overlap's slices in ``z``'s bbox, and the texture variance the ink no longer carries in the
    shared spread and the ink's pixels over it."""
    x0, y0, x1, y1 = z.bbox
    for (a0, b0, a1, b1), extra, ink in getattr(model, "ink_var_", {}).values():
        X0, Y0, X1, Y1 = max(x0, a0), max(y0, b0), min(x1, a1), min(y1, b1)
        if X0 < X1 and Y0 < Y1:
            src = (slice(Y0 - b0, Y1 - b0), slice(X0 - a0, X1 - a0))
            yield (slice(Y0 - y0, Y1 - y0), slice(X0 - x0, X1 - x0)), extra[src], ink[src]


def _add_ink_variance(model: AnomalyModel, z: _Zone, s2: np.ndarray) -> None:
    """Add to ``s2`` (zone ``z``'s bbox, (h, w, 3)) the texture variance that the ink no longer
    carries in the shared spread (:func:`_ink_overlaps`): the structure residual keeps the spread
    it had. It judges the strokes' own profile, and at the tighter spread a hand-held photo's
    softer strokes on good boards read as a fainter burn (zoo wood: up to 7.6 z against a
    threshold of 4.75); the deviation from the band, which holds the strokes' misregistration,
    takes the tighter spread."""
    for dst, extra, _ in _ink_overlaps(model, z):
        s2[dst] += extra[..., None]


def _near_ink(model: AnomalyModel, z: _Zone, sigma_px: float) -> np.ndarray | None:
    """Bbox-sized bool mask of zone ``z``'s pixels within ``2 sigma_px`` of the ink
    (:func:`_ink_overlaps`), or None when ``z`` has none. The structure residual judges what every
    unit shares; on the grain between the strokes nothing is shared, and there the deviation from
    the band judges alone (zoo wood hand-held: the residual reached 7.3 z on good boards' grain at
    the zone's edges, 4 of 14 flagged)."""
    x0, y0, x1, y1 = z.bbox
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for dst, _, ink in _ink_overlaps(model, z):
        out[dst] |= ink
    if not out.any():
        return None
    r = max(1, int(math.ceil(2.0 * sigma_px)))
    return cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0


def structure_zone_raw(model: AnomalyModel, z: _Zone, u: np.ndarray, g: np.ndarray,
                       m: np.ndarray | None = None) -> np.ndarray | None:
    """Structure residual of a ``variation`` zone's prepared bbox crop ``u`` (z units; ``m``, bbox-sized
    bool, the zone's valid pixels, the only ones the focus and contrast context reads), or None
    when off: ``structure_window_px`` 0; not a ``variation`` zone (``texture_variation`` is
    low-passed); a zone whose spread is floored by a unit-to-unit texture, a textile's weave, which
    has no fine structure that every unit shares (a seam's own ``stitching`` zone excepted, with
    ``structure_from_golden``); fewer than :data:`MIN_GOOD_UNITS` production units taught, unless
    the zone judges it from the golden (:func:`golden_structure`: the residual is then scaled by
    ``var_floor / expected_max_z``).

    The golden is taken in the unit's colours (``g``: the zone's gain field, (3,) or (h, w, 3)),
    and judged against the zone's own spread less its misregistration term
    (``grad_px · |∇mean|``, :func:`.variation.spread`): the statistical variance, the absolute
    and relative floors and any texture floor stay, in the unit's colours as in
    :func:`.zone_variation.variation_raw`. The shared displacement's window is a Gaussian of
    sigma ``max(structure_window_px, side / 4)`` (``side`` of the zone's smallest defect, as the
    evidence's aggregation), and ``|δ| <= shift_px + grad_px`` (the misregistration the
    variation model tolerates).
    """
    c = model.config
    win = float(getattr(c, "structure_window_px", 0.0) or 0.0)
    from_golden = golden_structure(model, z)
    taught = getattr(model, "n_good_units_", 0) >= MIN_GOOD_UNITS and (
        z.spec.name not in getattr(model, "tex_sd_", {}) or (
            bool(getattr(c, "structure_from_golden", False)) and _defect_type(z) == "stitching"))
    if win <= 0 or z.method != "variation" or not (from_golden or taught):
        return None
    x0, y0, x1, y1 = z.bbox
    sl = (slice(y0, y1), slice(x0, x1))
    mean = model.mean_[sl]
    inv = model.inv_spread_[sl]
    gx, gy = _grad(mean)
    g2 = cv2.dilate(gx * gx + gy * gy, np.ones((3, 3), np.uint8))  # as spread()
    a2 = np.float32(c.abs_floor**2)
    with np.errstate(divide="ignore"):
        s2 = np.reciprocal(inv * inv)  # inf where the golden has no sample
    _add_ink_variance(model, z, s2)
    s2 -= np.float32(c.grad_px**2) * g2
    del gx, gy, g2  # full-frame planes: freed before the residual's (peak memory)
    np.maximum(s2, a2, out=s2)
    gg = np.asarray(g, np.float32) ** 2
    ex = extra_floor2(sl, mean.shape[:2])  # the photo's own extra noise (:mod:`.unit_noise`)
    s2 = gg * (s2 - a2) + np.maximum(gg, np.float32(1.0)) * (a2 if ex is None else a2 + ex)
    del gg
    inv_u = np.reciprocal(np.sqrt(s2))
    del s2
    sigma = max(win, model.aggregate_sigma_px(z))
    ctx = float(getattr(c, "structure_context", 0.0) or 0.0)
    res = structure_residual(mean * np.asarray(g, np.float32), u, np.asarray(inv_u, np.float32),
                             window_sigma_px=sigma, max_shift_px=float(c.shift_px) + float(c.grad_px), iterations=1,
                             context_sigma_px=ctx * sigma if ctx > 1 else 0.0, valid=m)
    near = _near_ink(model, z, sigma)
    if near is not None:
        res[~near] = 0.0
    if from_golden and not on_texture(model, z):
        # the captures are one unit: the residual must reach the expected largest |z| of the
        # zone's samples (not the variation floor) to reach the zone's threshold (a zone on a
        # texture, a seam on its weave or a print on grain, has that floor as its threshold:
        # VariationMethod.floor)
        res *= np.float32(c.var_floor / max(expected_max_z(model, z), c.var_floor))
    return res
