"""The product as its own ruler: the unit's registration refined on the parts that are not measured.

Without a station profile or a known-size marker, a dimension is read in the golden frame
(:class:`~goldenvision.measure.reference.DimensionReference` ``GOLDEN_FRAME``): the unit's edges
are mapped through the unit -> golden registration and times the golden's mm per px. The camera's
distance and tilt are in that registration; the product's size must not be. A registration
fitted on the whole product also fits the measured feature's own outline, and a plate 1.3 %
wider is then stretched back onto the golden's width (zoo jewellery hand-held: a pendant
0.36 mm wide of nominal read nominal). :func:`refine_on_reference` re-fits the linear part of the
registration on the golden pixels the caller keeps (the product minus the measured features'
outlines, :func:`goldenvision.measure.dimensions.edge_band_mask`): the unit, warped into the
golden frame by its own registration, is aligned to the golden by an affine correction with
OpenCV's enhanced correlation coefficient (ECC; Evangelidis & Psarakis 2008), starting from the
identity. The registration's perspective part is kept (it is pinned by the whole product and a
change of one feature's size does not tilt the product), a non-rigid flow is dropped (it was
fitted on the measured edges too).

Uncertainty: the affine correction's covariance from the Gauss-Newton normal equations of the
same criterion at the solution, ``s^2 (J^T J)^-1`` (``J`` the image gradients times the affine
Jacobian, with a gain and an offset as nuisance parameters; ``s^2`` the residual variance),
times the residual's correlation area (:func:`_correlation_area`: neighbouring residuals of a
blurred, JPEG-compressed photo are not independent, so the plain formula would count each
blob of texture many times). A length ``L`` along the unit direction ``u`` then has the
variance ``L^2 g^T C g`` with ``g = (u_x^2, u_x u_y, u_x u_y, u_y^2)`` over the linear terms: a
reference that is small or far from the measured feature (three stones inside a pendant
whose width is measured) extrapolates its scale and the uncertainty says so.

Where the reference pins a direction weakly, the fit's estimate stays near the unit's own
registration (the prior, ``prior_strain_std``, regularises it), so the estimate's error there is
the registration's: how far the measured features can have dragged it (each at its tolerance limit,
times its share of the registration's evidence, :func:`registration_drag_cov`) and its own noise.
With that covariance (``strain_error_cov``) the stated covariance is the estimator's under it
(:func:`_misspecified_prior_cov`), not the prior's; the prior alone counted the smallest feature's
whole relative tolerance as the registration's error in every direction.

Where the residual is correlated beyond that window or the unit differs from the golden over
whole regions (a grain, a print density, a perspective the registration got a little wrong), the
formula is too small. The covariance is therefore also estimated by a delete-a-block jackknife
(Kunsch 1989; blocks of a 4 x 4 grid over the reference px, each left out in turn by one
Gauss-Newton step from the solution) and the larger of the two is taken in every direction.

References
----------
.. [1] G. D. Evangelidis, E. Z. Psarakis, "Parametric image alignment using enhanced
       correlation coefficient maximization", IEEE TPAMI 30(10), 2008.
       doi:10.1109/TPAMI.2008.113
.. [2] S. Baker, I. Matthews, "Lucas-Kanade 20 years on: a unifying framework", IJCV 56(3),
       2004 (the Gauss-Newton covariance of an image alignment). doi:10.1023/B:VISI.0000011205.11775.fd
.. [3] H. R. Kunsch, "The jackknife and the bootstrap for general stationary observations",
       Annals of Statistics 17(3), 1989 (the block jackknife). doi:10.1214/aos/1176347265
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..results import RegistrationResult
from .fitting import tukey_weights

__all__ = ["ReferenceFit", "reference_mask", "refine_on_reference", "registration_drag_cov", "strain_length_std_px",
           "strain_diameter_std_px", "MIN_REFERENCE_PX"]

#: Fewest kept golden px (with content on the unit) for a reference fit.
MIN_REFERENCE_PX = 400
#: Reference px are within 2 px of golden edges at least this share of the kept parts' strongest
#: (99.5th percentile) gradient.
STRUCTURE_SHARE = 0.2
#: Largest change of the linear part the correction may make (a larger one is a wrong fit).
MAX_CORRECTION = 0.05
#: A correction whose shift of the reference's centroid exceeds this many times the strain prior
#: times the reference's RMS radius, plus the slack (px), matched something that moves from unit to
#: unit: its shift is dropped (:func:`refine_on_reference`).
TRANSLATION_SIGMAS = 3.0
TRANSLATION_SLACK_PX = 1.0
#: Largest strain and shift of one Gauss-Newton step.
_MAX_STEP_STRAIN = 0.01
_MAX_STEP_PX = 1.0
#: Gaussian blur (sigma, px) of both images before the fit: the ECC and the covariance see the same.
_SIGMA_PX = 1.0
#: 1-sigma systematic error (px) of where a feature of the unit, photographed, resampled and
#: compressed, lies against the golden's: the interpolation's and the JPEG's bias and a blur that
#: differs. It does not average down over a feature's pixels, so a strain read over a lever arm of
#: ``r`` px is no better than ``SYSTEMATIC_PX / r`` (:func:`_systematic_strain_cov`). Measured on the
#: zoo's hand-held zipper: the teeth's two shade lines, 7.4 px apart across the chain, read 0.1-0.2 px
#: further apart on the golden's own recaptures and on units alike (a strain of 0.6-3.8 % where the
#: normal equations claimed 0.7 %).
SYSTEMATIC_PX = 0.05
#: Block jackknife of the strain's covariance: a grid of this many blocks a side over the reference
#: px, and at least this many blocks holding px.
JACKKNIFE_GRID = 4
JACKKNIFE_MIN_BLOCKS = 6
#: The reference's perspective step is significant above this ``s^T C^-1 s`` (chi-square, 2 degrees
#: of freedom, 95 %).
PERSPECTIVE_CHI2 = 5.991
#: Half-size of the window (px) over which the residual's autocorrelation is summed.
_CORR_RADIUS_PX = 6


@dataclass(frozen=True)
class ReferenceFit:
    """The unit's registration refined on the reference parts (module notes).

    Attributes
    ----------
    registration : RegistrationResult
        unit px -> golden px: the affine correction composed with the unit's own homography
        (no flow).
    cov_linear : ndarray, shape (3, 3)
        Covariance of the correction's strain ``(m00 - 1, m01 = m10, m11 - 1)`` (dimensionless),
        the correlation area included.
    reference_px : int
        Golden px the fit used.
    correction : ndarray, shape (2, 3)
        The affine correction, golden px -> golden px of the unit warped by its own registration.
    perspective_cov : ndarray, shape (2, 2), or None
        How far the registration's perspective may be off, as the reference sees it: the
        second-moment matrix of the perspective terms ``(p_x, p_y)`` (1/golden px, about
        ``centre_px``: ``p -> p / (1 + p_x x + p_y y)``) that one Gauss-Newton step from the
        solution would add (its square: the reference's own disagreement with the kept
        perspective) plus that step's covariance (the larger of the normal equations' and the
        delete-a-block jackknife's). The fit keeps the registration's perspective; this only says
        how well it holds far out (a marker beside the product,
        :func:`goldenvision.measure.dimensions._marker_golden_length`). None when not estimated.
    centre_px : (x, y) or None
        The reference px' centroid, full golden px: the origin of ``perspective_cov``.
    perspective_off : bool
        Whether the reference's step is significant (``s^T C^-1 s`` over the 95 % point of
        chi-square with 2 degrees of freedom, :data:`PERSPECTIVE_CHI2`): the kept perspective
        is then shown off by the product itself, and lengths inside the product carry its spread
        too (:meth:`perspective_length_std_px`). Otherwise the registration, which the whole
        product pinned, stands there, and only a length carried far out (a marker) takes
        ``perspective_cov``.
    """

    registration: RegistrationResult
    cov_linear: np.ndarray
    reference_px: int
    correction: np.ndarray
    perspective_cov: np.ndarray | None = None
    centre_px: tuple[float, float] | None = None
    perspective_off: bool = False

    def length_std_px(self, p_golden: np.ndarray, q_golden: np.ndarray) -> float:
        """1-sigma (golden px) of the length between two golden points from the reference's scale."""
        return strain_length_std_px(self.cov_linear, p_golden, q_golden)

    def perspective_length_std_px(self, p_golden: np.ndarray, q_golden: np.ndarray) -> float:
        """1-sigma (golden px) of the length between two golden points from the perspective the fit
        keeps, where the reference shows it off (``perspective_off``; else 0): ``x -> x / (1 + p . x)``
        about ``centre_px`` moves a point by ``-(p . x) x``, so the length along ``u`` changes by
        ``-p . ((u . x_q) x_q - (u . x_p) x_p)``."""
        if self.perspective_cov is None or self.centre_px is None or not self.perspective_off:
            return 0.0
        c = np.asarray(self.centre_px, np.float64)
        a, b = np.asarray(p_golden, np.float64) - c, np.asarray(q_golden, np.float64) - c
        d = b - a
        length = float(np.hypot(*d))
        if not length > 0:
            return 0.0
        u = d / length
        v = float(u @ b) * b - float(u @ a) * a
        return math.sqrt(max(0.0, float(v @ self.perspective_cov @ v)))

    def perspective_diameter_std_px(self, centre_golden: np.ndarray, diameter_golden_px: float) -> float:
        """1-sigma (golden px) of a diameter from the perspective the fit keeps: the mean length factor
        over all directions at ``x`` is ``1 - 1.5 p . x`` (0 unless ``perspective_off``)."""
        if self.perspective_cov is None or self.centre_px is None or not self.perspective_off:
            return 0.0
        x = np.asarray(centre_golden, np.float64) - np.asarray(self.centre_px, np.float64)
        return 1.5 * float(diameter_golden_px) * math.sqrt(max(0.0, float(x @ self.perspective_cov @ x)))

    def diameter_std_px(self, diameter_golden_px: float) -> float:
        """1-sigma (golden px) of a diameter from the reference's scale: the mean of the two axes'."""
        return strain_diameter_std_px(self.cov_linear, diameter_golden_px)


def strain_length_std_px(cov: np.ndarray, p_golden: np.ndarray, q_golden: np.ndarray) -> float:
    """1-sigma (golden px) of the length between two golden points under a strain covariance ``cov``
    over ``(m00 - 1, m01 = m10, m11 - 1)``: ``L sqrt(g^T C g)``, ``g = (u_x^2, 2 u_x u_y, u_y^2)``
    along the length's direction ``u``."""
    d = np.asarray(q_golden, np.float64) - np.asarray(p_golden, np.float64)
    length = float(np.hypot(*d))
    if not length > 0:
        return 0.0
    u = d / length
    g = np.array([u[0] * u[0], 2.0 * u[0] * u[1], u[1] * u[1]])
    return length * math.sqrt(max(0.0, float(g @ np.asarray(cov, np.float64) @ g)))


def strain_diameter_std_px(cov: np.ndarray, diameter_golden_px: float) -> float:
    """1-sigma (golden px) of a diameter under a strain covariance ``cov``: the mean of the two axes'."""
    g = np.array([0.5, 0.0, 0.5])
    return float(diameter_golden_px) * math.sqrt(max(0.0, float(g @ np.asarray(cov, np.float64) @ g)))


def _blur(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(np.asarray(img, np.float32), (0, 0), _SIGMA_PX)


def _correlation_area(res: np.ndarray, mask: np.ndarray) -> float:
    """Sum of the residual's normalised autocorrelation over a (2r+1)^2 window, px (>= 1)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    e = np.where(mask, res, 0.0)[y0:y1, x0:x1].astype(np.float64)
    m = mask[y0:y1, x0:x1].astype(np.float64)
    h, w = e.shape
    fh, fw = cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w)
    fe = np.fft.rfft2(e, (fh, fw))
    fm = np.fft.rfft2(m, (fh, fw))
    ac = np.fft.irfft2(fe * np.conj(fe), (fh, fw))
    cnt = np.fft.irfft2(fm * np.conj(fm), (fh, fw))
    r = _CORR_RADIUS_PX
    idx_y = np.r_[0:r + 1, fh - r:fh]
    idx_x = np.r_[0:r + 1, fw - r:fw]
    acw = ac[np.ix_(idx_y, idx_x)]
    cw = np.maximum(cnt[np.ix_(idx_y, idx_x)], 1.0)
    rho = (acw / cw) / max(float(ac[0, 0] / max(cnt[0, 0], 1.0)), 1e-12)
    return max(1.0, float(rho.sum()))


def reference_mask(golden_gray: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The golden px a unit's scale is taken from: (H, W) bool.

    Within ``keep`` (the product minus the measured feature's outline), the px within 2 px of
    the golden's structure: gradient magnitude at least :data:`STRUCTURE_SHARE` of the kept
    parts' 99.5th percentile. A grain, a brushing, a mottled ground differ from unit to unit and
    are no ruler; what else differs (a stone's facets turned, a missing part) is outweighed in
    the fit (:func:`refine_on_reference`)."""
    g = _blur(golden_gray)
    keep = np.asarray(keep, bool)
    if not keep.any():
        return keep.copy()
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    top = float(np.percentile(mag[keep], 99.5))
    if not top > 0:
        return np.zeros_like(keep)
    return keep & (cv2.dilate((mag >= STRUCTURE_SHARE * top).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)


def _block_jackknife_cov(jac: np.ndarray, wts: np.ndarray, res: np.ndarray, prior: np.ndarray,
                         theta: np.ndarray, xs: np.ndarray, ys: np.ndarray, keep: slice = slice(0, 3)
                         ) -> np.ndarray | None:
    """Delete-a-block jackknife covariance of the strain (module notes): the reference px are cut
    into a grid of :data:`JACKKNIFE_GRID` x :data:`JACKKNIFE_GRID` blocks (equal counts along x and
    along y); each block is left out in turn and the fit moved by one Gauss-Newton step from the
    solution without it. None with fewer than :data:`JACKKNIFE_MIN_BLOCKS` blocks. ``keep``: the
    parameters whose covariance is returned (the strain's by default)."""
    k = JACKKNIFE_GRID
    qx = np.quantile(xs, np.linspace(0, 1, k + 1)[1:-1])
    qy = np.quantile(ys, np.linspace(0, 1, k + 1)[1:-1])
    block = np.searchsorted(qx, xs, side="right") * k + np.searchsorted(qy, ys, side="right")
    jw = jac * wts[:, None]
    a_all = jw.T @ jac + prior
    g_all = jw.T @ res - prior @ theta
    try:
        base = np.linalg.solve(a_all, g_all)
    except np.linalg.LinAlgError:
        return None
    steps = []
    for b in np.unique(block):
        sel = block == b
        if int(sel.sum()) < 0.2 * len(xs) / (k * k):
            continue
        a_b = jw[sel].T @ jac[sel]
        g_b = jw[sel].T @ res[sel]
        try:
            steps.append(np.linalg.solve(a_all - a_b, g_all - g_b)[keep] - base[keep])
        except np.linalg.LinAlgError:
            return None
    nb = len(steps)
    if nb < JACKKNIFE_MIN_BLOCKS:
        return None
    d = np.asarray(steps)
    d = d - d.mean(axis=0)
    return (nb - 1) / nb * (d.T @ d)


def _psd_max(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The smallest covariance at least as large as ``c1`` and as ``c2`` in every direction where
    ``c2`` exceeds ``c1`` (``c1`` plus the positive part of ``c2 - c1``)."""
    w, v = np.linalg.eigh(0.5 * ((c2 - c1) + (c2 - c1).T))
    return c1 + (v * np.maximum(w, 0.0)) @ v.T


def _strain_precision(std: float) -> np.ndarray:
    """Prior precision over the strain ``(a, b, c)`` (``M - I = [[a, b], [b, c]]``): its isotropic
    part ``(a + c) / 2`` and its deviatoric part ``((a - c) / 2, b)`` each held at 0 with 1-sigma
    ``std`` (the unit's registration's own scale, stretch and shear stand unless the reference
    says otherwise)."""
    return np.array([[0.5, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]]) / (std * std)


def registration_drag_cov(golden_gray: np.ndarray, registration_mask: np.ndarray | None,
                          features: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Covariance (3 x 3, of the strain ``(m00 - 1, m01 = m10, m11 - 1)``) of how far the measured
    features drag a unit's registration fitted on the whole product (for
    :func:`refine_on_reference`'s ``strain_error_cov``).

    The unit's registration is a least-squares image alignment over ``registration_mask`` (golden
    px; None: the whole image). To first order (the Gauss-Newton step, Baker & Matthews 2004 [2]_)
    a displacement ``d(p)`` of the golden px moves its parameters by ``(J^T J)^-1 J^T r`` with
    ``r = grad(g) . d`` and ``J`` the image gradients times the homography's Jacobian (strain,
    rotation, translation, perspective, about the mask's centroid). A feature whose size varies
    with the strain tensor ``S`` (1-sigma) displaces the px that move with it (``band``) by
    ``S (p - centre)``: its drag on the strain is that step's first three terms, and the features
    (independent) add their outer products. A feature that is the whole product's outline (a
    pendant plate, a panel) drags the registration by about its own strain, so its deviation would
    read as the golden's; a small feature inside a product with much other structure (a zipper's
    chain width across its teeth and slider) hardly moves it. This replaces the earlier prior of
    the spec's largest relative tolerance in every direction (a full drag by the smallest feature),
    which on the zoo's hand-held zipper stated 1-sigma five times the errors found (the prior still
    regularises the fit; this is what its stated covariance takes for the registration's error).

    Parameters
    ----------
    golden_gray : ndarray, (H, W) float or uint8
        The golden's measuring grey, golden px.
    registration_mask : ndarray (H, W) bool or None
        The golden px the unit's registration is fitted on.
    features : list of (band, centre, strain)
        :func:`goldenvision.measure.dimensions.feature_strains`: (H, W) bool, (x, y) golden px,
        (2, 2) dimensionless.
    """
    g = _blur(np.asarray(golden_gray, np.float32))
    gx = (cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0).astype(np.float64)
    gy = (cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0).astype(np.float64)
    area = np.hypot(gx, gy) > 1e-6
    if registration_mask is not None:
        area &= np.asarray(registration_mask, bool)
    ys, xs = np.nonzero(area)
    cov = np.zeros((3, 3))
    if len(xs) < 16 or not features:
        return cov
    c = np.array([xs.mean(), ys.mean()])
    xc, yc = xs - c[0], ys - c[1]
    fx, fy = gx[ys, xs], gy[ys, xs]
    rad = fx * xc + fy * yc
    jac = np.stack([fx * xc, fx * yc + fy * xc, fy * yc, -fx * yc + fy * xc, fx, fy, -rad * xc, -rad * yc], axis=1)
    info = jac.T @ jac
    for band, centre, strain in features:
        sel = np.asarray(band, bool)[ys, xs]
        if not sel.any():
            continue
        px, py = xs[sel] - centre[0], ys[sel] - centre[1]
        dx = strain[0, 0] * px + strain[0, 1] * py
        dy = strain[1, 0] * px + strain[1, 1] * py
        r = fx[sel] * dx + fy[sel] * dy
        try:
            step = np.linalg.lstsq(info, jac[sel].T @ r, rcond=None)[0][:3]
        except np.linalg.LinAlgError:
            continue
        cov += np.outer(step, step)
    return cov


def _noise2(res: np.ndarray, wts: np.ndarray, ys: np.ndarray, xs: np.ndarray, mask: np.ndarray, k: int) -> float:
    """Weighted residual variance times the residual's correlation area (grey^2)."""
    n_eff = float(wts.sum())
    s2 = float((wts * res * res).sum()) / max(1.0, n_eff - k)
    resim = np.zeros(mask.shape, np.float64)
    resim[ys, xs] = res * (wts > 0)
    keep = mask & (resim != 0)
    return max(s2, 1e-12) * (_correlation_area(resim, keep) if keep.any() else 1.0)


def _blur_ridge(jw: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """A ridge of 1e-9 of its own weight on the blur term (column 7), so that a reference whose
    Laplacian says nothing leaves the normal equations solvable."""
    out = np.zeros((jac.shape[1], jac.shape[1]))
    out[7, 7] = 1e-9 * max(float(jw[:, 7] @ jac[:, 7]), 1.0)
    return out


def _systematic_strain_cov(jac: np.ndarray, wts: np.ndarray, alpha: float) -> np.ndarray | None:
    """Covariance (3 x 3, diagonal) of the strain ``(a, b, c)`` (``M - I = [[a, b], [b, c]]``) from a
    systematic feature position error of :data:`SYSTEMATIC_PX`: ``(SYSTEMATIC_PX / arm)^2`` per
    component, ``arm`` the RMS lever arm of the reference's evidence for it, its Jacobian column over
    the gradient energy that carries it (``x`` over the x gradients for ``a``, ``y`` over the y
    gradients for ``c``, both for ``b``). ``jac``: :func:`refine_on_reference`'s Jacobian (its
    columns 3 and 4 are ``alpha`` times the gradients). None without gradient."""
    scale = 1.0 / alpha if alpha else 1.0
    gx, gy = jac[:, 3] * scale, jac[:, 4] * scale
    ex, ey = float((wts * gx * gx).sum()), float((wts * gy * gy).sum())
    if not (ex + ey > 0 and math.isfinite(ex + ey)):
        return None
    out = np.zeros((3, 3))
    for k, energy in ((0, ex), (1, ex + ey), (2, ey)):
        col = jac[:, k] * scale
        arm2 = float((wts * col * col).sum()) / energy if energy > 0 else 0.0
        # no gradient for a component: the data say nothing of it (a strain of 1 is no constraint)
        out[k, k] = min(SYSTEMATIC_PX ** 2 / arm2, 1.0) if arm2 > 0 else 1.0
    return out


def _with_systematic_floor(post: np.ndarray, prior_prec: np.ndarray, theta: np.ndarray,
                           sys_cov: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(strain, its posterior covariance) once the data's covariance holds ``sys_cov`` too, or None.

    ``post`` (the strain's posterior covariance, data and prior) and ``theta`` (its mean about the
    registration's strain, the prior's mean being 0) give the data's precision ``P_d = post^-1 -
    P_0`` and ``P_d theta_d = post^-1 theta``. With ``C_sys`` added to the data's covariance its
    precision is ``K P_d``, ``K = (I + P_d C_sys)^-1``, and its weighted mean ``K post^-1 theta``:
    the new posterior is ``(K P_d + P_0)^-1`` and its mean that times ``K post^-1 theta`` (no
    inverse of ``P_d``, which a reference that pins one direction only leaves singular)."""
    if sys_cov is None:
        return None
    try:
        p_post = np.linalg.inv(post)
        p_d = p_post - prior_prec
        w, v = np.linalg.eigh(0.5 * (p_d + p_d.T))
        p_d = (v * np.maximum(w, 0.0)) @ v.T
        k = np.linalg.inv(np.eye(3) + p_d @ sys_cov)
        p_d2 = k @ p_d
        new_post = np.linalg.inv(0.5 * (p_d2 + p_d2.T) + prior_prec)
        theta2 = new_post @ (k @ (p_post @ np.asarray(theta, np.float64)))
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(theta2)) and np.all(np.isfinite(new_post))):
        return None
    return theta2, 0.5 * (new_post + new_post.T)


def _misspecified_prior_cov(post: np.ndarray, prior_prec: np.ndarray, error_cov: np.ndarray) -> np.ndarray:
    """Covariance of a Gaussian posterior mean whose prior (precision ``prior_prec`` about the
    registration's value) is not the distribution of the registration's actual error
    (``error_cov``): ``post P_d post + (post P_0) Pi (post P_0)^T`` with ``P_d = post^-1 - P_0``
    the data's marginal precision (``refine_on_reference``'s ``strain_error_cov``)."""
    pi = np.asarray(error_cov, np.float64)
    if pi.shape != (3, 3) or not np.all(np.isfinite(pi)):
        raise ValueError(f"strain_error_cov: expected a finite (3, 3) covariance, got shape {pi.shape}")
    try:
        p_d = np.linalg.inv(post) - prior_prec
    except np.linalg.LinAlgError:
        return post
    w_prior = post @ prior_prec
    out = post @ p_d @ post + w_prior @ (0.5 * (pi + pi.T)) @ w_prior.T
    out = 0.5 * (out + out.T)
    return out if np.all(np.isfinite(out)) else post


def refine_on_reference(golden_gray: np.ndarray, unit_gray: np.ndarray, registration: RegistrationResult,
                        reference: np.ndarray, *, prior_strain_std: float | None = None,
                        strain_error_cov: np.ndarray | None = None, max_iter: int = 30) -> ReferenceFit | None:
    """Refine the unit's registration on the golden px ``reference`` (module notes); None when
    they cannot pin the correction (too few px with content, no convergence, singular normal
    equations, a correction larger than :data:`MAX_CORRECTION`).

    With a strain prior, a correction that moved the reference's centroid further than a strain
    could (:data:`TRANSLATION_SIGMAS` times the prior times the reference's RMS radius, plus
    :data:`TRANSLATION_SLACK_PX`) matched something that moves from unit to unit, not the
    product: its strain is kept and its shift dropped (about the centroid), so the features are
    looked for where the unit's registration puts them (zoo wood hand-held: the board's grain,
    fits 1-23 px off where the registration was right to 0.5 px, a hole looked for 22 px away
    and read 0.57 mm large; ceramic: a decal placed 1.7 mm off, which the fit followed by 7-8 px).

    The correction is ``p -> c + M (p - c) + t`` in golden px (``c`` the reference px' centroid)
    with a symmetric ``M`` (a strain: the rotation is left to the unit's registration, which the
    whole product pins and a change of one feature's size does not turn), fitted by Gauss-Newton
    with Tukey's biweight (4.685 robust sigmas) so that what differs from unit to unit (a stone's
    facets, a sparkle) is outweighed, and a gain, an offset and a difference of blur (the unit's
    Laplacian: a blurrier thin line is a wider one, which a strain would otherwise take up) between
    the two grey levels. With a prior, the strain's data covariance holds a systematic floor
    (:data:`SYSTEMATIC_PX` over each component's lever arm, :func:`_systematic_strain_cov`) before it
    is weighed against the prior: a strain read over a few px is no better than where a feature of
    a resampled, compressed photo lies (:func:`_with_systematic_floor`).

    Parameters
    ----------
    golden_gray : ndarray, (H, W) float or uint8
        The golden's measuring gray (golden px).
    unit_gray : ndarray, (h, w) float or uint8
        The unit's measuring gray (unit px), on the same grey scale.
    registration : RegistrationResult
        unit px -> golden px, ``ok``.
    reference : ndarray, (H, W) bool
        Golden px that are the reference (:func:`reference_mask`).
    prior_strain_std : float or None, keyword-only
        How far (1-sigma, as a strain) the unit's own registration may be scaled, stretched or
        sheared (the isotropic and the deviatoric part alike) because it also fitted the measured
        features (the pipeline takes the spec's largest tolerance over
        its nominal, over 3: a capable process holds a feature within a third of its tolerance at
        1 sigma). It is the prior of the strain: where the reference pins the scale it decides,
        where it does not (a row of teeth says nothing across the row) the unit's
        registration stands, in its scale too (the registration has already measured the camera's
        distance on the whole product; freeing the isotropic part let a reference that pins one
        direction drag the other along: zoo hardware hand-held, 24 units, the slider across the
        chain max 0.081 -> 0.062 mm, jewellery pendant 0.64 -> 0.06 mm) and the covariance says by how much it may be off. None: no prior
        (the reference alone).
    strain_error_cov : ndarray, shape (3, 3), or None, keyword-only
        How far the unit's own registration's strain is actually off (what the pipeline passes:
        :func:`registration_drag_cov` for features at their tolerance limits, plus the registration's
        own noise). The prior above only regularises the fit: it lets the reference correct the
        strain where it can, and in the directions it pins weakly the estimate stays near the
        registration's. The estimate's error there is the registration's, so the stated covariance
        is the estimator's under this one (the law of propagation, GUM 5.1.2, for the linear
        estimate ``(P_d + P_0)^-1 (P_d theta_d + P_0 theta_reg)``: ``C P_d C + (C P_0) Pi (C P_0)^T``
        with ``C`` the posterior strain covariance, ``P_0`` the prior's precision, ``P_d`` the data's
        and ``Pi`` this); the prior's own covariance counted the full tolerance of the smallest feature
        as the registration's error (zoo hand-held zipper: 1-sigma five times the errors found).
        None: the prior stands for the registration's error, as before.
    max_iter : int, keyword-only
        Gauss-Newton iterations.
    """
    g = np.asarray(golden_gray, np.float32)
    hh, ww = g.shape
    h0 = np.asarray(registration.homography, np.float64)
    u = np.asarray(unit_gray, np.float32)
    warped = cv2.warpPerspective(u, h0, (ww, hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = cv2.warpPerspective(np.ones(u.shape, np.uint8), h0, (ww, hh), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = np.asarray(reference, bool) & (cv2.erode(ones, np.ones((9, 9), np.uint8)) > 0)
    if int(mask.sum()) < MIN_REFERENCE_PX:
        return None
    # work on the reference's bounding box (plus a margin)
    ys, xs = np.nonzero(mask)
    pad = 12
    y0, y1 = max(0, int(ys.min()) - pad), min(hh, int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(ww, int(xs.max()) + pad + 1)
    gc, wc, mc = _blur(g[y0:y1, x0:x1]), _blur(warped[y0:y1, x0:x1]), mask[y0:y1, x0:x1]
    ys, xs = np.nonzero(mc)
    cx, cy = float(xs.mean()), float(ys.mean())
    xc, yc = xs - cx, ys - cy
    gv_ = gc[ys, xs].astype(np.float64)
    m = np.eye(2)
    t = np.zeros(2)
    alpha, beta = 1.0, 0.0
    wts = np.ones(len(xs))
    size = (x1 - x0, y1 - y0)
    c = np.array([cx, cy])
    jac = res = None
    # strain (3), shift (2), and the grey levels: gain, offset and a difference of blur (the unit's
    # Laplacian: a Gaussian blur of variance v adds v / 2 of it), which a thin feature otherwise
    # reads as a strain (a blurrier line is a wider line)
    npar = 8
    # the strain prior's precision (None: no prior, the reference alone)
    p0 = _strain_precision(float(prior_strain_std)) if prior_strain_std is not None and prior_strain_std > 0 else None
    prior = np.zeros((npar, npar))  # the prior's precision over the parameters, times the noise
    gamma = 0.0
    noise2 = 1.0  # residual variance times correlation area (grey^2), estimated at the first iteration
    for it in range(max_iter):
        aff = np.hstack([m, (c + t - m @ c)[:, None]])
        w2 = cv2.warpAffine(wc, aff, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        gx = (cv2.Sobel(w2, cv2.CV_32F, 1, 0, ksize=3) / 8.0)[ys, xs].astype(np.float64)
        gy = (cv2.Sobel(w2, cv2.CV_32F, 0, 1, ksize=3) / 8.0)[ys, xs].astype(np.float64)
        wv = w2[ys, xs].astype(np.float64)
        lv = cv2.Laplacian(w2, cv2.CV_32F, ksize=1)[ys, xs].astype(np.float64)
        if it == 0:  # the grey levels first, so the first weights already leave out what differs
            ph = np.stack([wv, np.ones_like(wv)], axis=1)
            alpha, beta = (float(v) for v in np.linalg.lstsq(ph, gv_, rcond=None)[0])
        res = gv_ - alpha * wv - beta - gamma * lv
        wts = tukey_weights(res)
        if it == 0 and p0 is not None:
            noise2 = _noise2(res, wts, ys, xs, mc, npar)
            prior[:3, :3] = noise2 * p0
        jac = np.stack([alpha * gx * xc, alpha * (gx * yc + gy * xc), alpha * gy * yc, alpha * gx, alpha * gy,
                        wv, np.ones_like(wv), lv], axis=1)
        # linearised: golden ~ alpha_new * w + beta_new + alpha * J_geo . delta
        rhs = gv_
        jw = jac * wts[:, None]
        theta = np.zeros(npar)
        theta[:3] = m[0, 0] - 1.0, m[0, 1], m[1, 1] - 1.0
        try:
            sol = np.linalg.solve(jw.T @ jac + prior + _blur_ridge(jw, jac), jw.T @ rhs - prior @ theta)
        except np.linalg.LinAlgError:
            return None
        # a step is at most 1 % of strain and 1 px (Gauss-Newton far from the optimum overshoots)
        k = min(1.0, _MAX_STEP_STRAIN / max(1e-12, float(np.abs(sol[:3]).max())),
                _MAX_STEP_PX / max(1e-12, float(np.abs(sol[3:5]).max())))
        da, db, dc, dtx, dty = (k * float(v) for v in sol[:5])
        alpha, beta, gamma = float(sol[5]), float(sol[6]), float(sol[7])
        m = m + np.array([[da, db], [db, dc]])
        t = t + np.array([dtx, dty])
        if np.abs(m - np.eye(2)).max() > MAX_CORRECTION or not np.all(np.isfinite(m)):
            return None
        if max(abs(da), abs(db), abs(dc)) < 1e-6 and max(abs(dtx), abs(dty)) < 1e-3:
            break
    assert jac is not None and res is not None
    anchored = False
    if prior_strain_std is not None and prior_strain_std > 0:
        # the unit's registration pins where the product lies; the correction only undoes the drag
        # of the measured features on its strain, which moves the reference's centroid by about the
        # strain times the reference's extent. Far more is the reference matched to something that
        # moves from unit to unit (a board's grain repeats every ring: the fit slid by whole rings;
        # a decal placed off): its strain stands, its shift is the registration's
        r_rms = float(np.sqrt(np.mean(xc * xc + yc * yc)))
        anchored = float(np.hypot(*t)) > TRANSLATION_SIGMAS * float(prior_strain_std) * r_rms + TRANSLATION_SLACK_PX
    # covariance at the solution (module notes): the data's, with the prior's precision added
    wts = tukey_weights(res)
    noise2 = _noise2(res, wts, ys, xs, mc, jac.shape[1])
    jw = jac * wts[:, None]
    prec = (jw.T @ jac + _blur_ridge(jw, jac)) / noise2
    if p0 is not None:
        prec[:3, :3] += p0
    try:
        cov = np.linalg.inv(prec)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)):
        return None
    cov_lin = cov[:3, :3]
    m_kept = m  # the strain the correction keeps (the fit's, unless the systematic floor moves it)
    if p0 is not None:
        # a strain read over a short lever arm is no better than the features' systematic position
        # error over that arm (SYSTEMATIC_PX): where the data's precision claims more, the prior (the
        # unit's registration) keeps its share
        floored = _with_systematic_floor(cov_lin, p0,
                                         np.array([m[0, 0] - 1.0, m[0, 1], m[1, 1] - 1.0]),
                                         _systematic_strain_cov(jac, wts, alpha))
        if floored is not None:
            (sa, sb, sc), cov_lin = floored
            m_kept = np.array([[1.0 + sa, sb], [sb, 1.0 + sc]])
    if strain_error_cov is not None and p0 is not None:
        cov_lin = _misspecified_prior_cov(cov_lin, p0, strain_error_cov)
    # the residual's correlation beyond the window and what differs between the unit and the golden
    # over whole regions: the delete-a-block jackknife, where it says more (module notes)
    pr = np.zeros((npar, npar))
    if p0 is not None:
        pr[:3, :3] = noise2 * p0
    theta = np.zeros(npar)
    theta[:3] = m[0, 0] - 1.0, m[0, 1], m[1, 1] - 1.0
    jk = _block_jackknife_cov(jac, wts, res, pr, theta, xs.astype(np.float64), ys.astype(np.float64))
    if jk is not None and np.all(np.isfinite(jk)):
        cov_lin = _psd_max(cov_lin, jk)
    off = np.array([x0, y0], np.float64)
    cg = c + off  # the centroid in full golden px
    persp = _perspective_spread(jac, wts, res, pr, theta, xs.astype(np.float64), ys.astype(np.float64),
                                alpha, gc, wc, m, t, c, size, noise2)
    if anchored:
        t = np.zeros(2)
    a = np.hstack([m_kept, (cg + t - m_kept @ cg)[:, None]])
    full = np.vstack([a, [0.0, 0.0, 1.0]])
    h = np.linalg.inv(full) @ h0
    h = h / h[2, 2]
    reg = RegistrationResult(homography=h, ok=True, rms_px=registration.rms_px, inliers=registration.inliers,
                             confidence=registration.confidence, method=f"{registration.method}+reference-strain",
                             reference_shape_hw=registration.reference_shape_hw)
    return ReferenceFit(registration=reg, cov_linear=cov_lin, reference_px=int(mc.sum()), correction=a,
                        perspective_cov=None if persp is None else persp[0], centre_px=(float(cg[0]), float(cg[1])),
                        perspective_off=persp is not None and persp[1])


def _perspective_spread(jac: np.ndarray, wts: np.ndarray, res: np.ndarray, prior: np.ndarray, theta: np.ndarray,
                        xs: np.ndarray, ys: np.ndarray, alpha: float, gc: np.ndarray, wc: np.ndarray, m: np.ndarray,
                        t: np.ndarray, c: np.ndarray, size: tuple[int, int], noise2: float
                        ) -> tuple[np.ndarray, bool] | None:
    """(``ReferenceFit.perspective_cov``, ``perspective_off``): the fit's parameters with two
    perspective terms added, one Gauss-Newton step from the solution (all the reference px, and
    each jackknife block left out); the perspective part ``s`` of the full step squared plus ``C``,
    the larger of its covariances, and whether ``s^T C^-1 s`` exceeds :data:`PERSPECTIVE_CHI2`."""
    aff = np.hstack([m, (c + t - m @ c)[:, None]])
    w2 = cv2.warpAffine(wc, aff, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    yi, xi = ys.astype(np.intp), xs.astype(np.intp)
    gx = (cv2.Sobel(w2, cv2.CV_32F, 1, 0, ksize=3) / 8.0)[yi, xi].astype(np.float64)
    gy = (cv2.Sobel(w2, cv2.CV_32F, 0, 1, ksize=3) / 8.0)[yi, xi].astype(np.float64)
    xc, yc = xs - c[0], ys - c[1]
    # p -> p / (1 + px x + py y) about the centroid: d/dpx = -x p, d/dpy = -y p
    jp = np.stack([-alpha * (gx * xc * xc + gy * yc * xc), -alpha * (gx * xc * yc + gy * yc * yc)], axis=1)
    n = jac.shape[1]
    j9 = np.hstack([jac, jp])
    pr9 = np.zeros((n + 2, n + 2))
    pr9[:n, :n] = prior
    th9 = np.concatenate([theta, [0.0, 0.0]])
    jw = j9 * wts[:, None]
    a_all = jw.T @ j9 + pr9
    try:
        step = np.linalg.solve(a_all, jw.T @ res - pr9 @ th9)
        cov = np.linalg.inv(a_all / noise2)[n:, n:]
    except np.linalg.LinAlgError:
        return None
    jk = _block_jackknife_cov(j9, wts, res, pr9, th9, xs, ys, keep=slice(n, n + 2))
    if jk is not None and np.all(np.isfinite(jk)):
        cov = _psd_max(cov, jk)
    s = step[n:]
    out = cov + np.outer(s, s)
    if not np.all(np.isfinite(out)):
        return None
    try:
        off = float(s @ np.linalg.solve(cov, s)) > PERSPECTIVE_CHI2
    except np.linalg.LinAlgError:
        off = False
    return out, off
