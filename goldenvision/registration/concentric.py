"""Where the centre of a round product is in a photo, from two concentric circles of its body.

A circle seen in perspective is an ellipse, but the ellipse's centre is not the image of the
circle's centre (a tilted dish's near half looks larger): one outline alone leaves the centre
free by up to a few px on a hand-held photo, and a homography may slide the outline along
itself while it follows a print that moved. Two *concentric* circles (a dish's rim and its
band, a lid's edge and its groove) pin the centre's image exactly, whatever the perspective:
for the conics ``C1``, ``C2`` of their images, the pencil ``C1 - l C2`` has a double eigenvalue
(the doubled vanishing line) and a single one whose degenerate conic is the pair of complex
lines through the centre, so the centre's image is the eigenvector of ``C2^-1 C1`` for the
eigenvalue that stands apart (Hartley & Zisserman 2004, 2nd ed., sec. 8.5 and the pole-polar
relation of sec. 2.2.3; Kim, Gurdjos & Kweon 2005, doi:10.1109/TPAMI.2005.40).

Coordinates are ``(x, y)`` px with pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..results import RegistrationResult
from .refusal import RefusalCode

__all__ = ["ellipse_conic", "fit_conic", "conic_residual_px", "common_centre", "RoundBody", "find_round_body",
           "map_ellipse", "body_alignment", "check_print_on_body", "PRINT_SLACK_PX", "body_starts"]


def ellipse_conic(cx: float, cy: float, a: float, b: float, theta: float) -> np.ndarray:
    """The 3x3 symmetric conic ``C`` (``x^T C x = 0``) of the ellipse with centre ``(cx, cy)``,
    semi-axes ``a``, ``b`` and the ``a`` axis turned by ``theta`` rad, scaled to ``|C| = 1``."""
    c, s = math.cos(theta), math.sin(theta)
    r = np.array([[c, -s], [s, c]])
    q = r @ np.diag([1.0 / a ** 2, 1.0 / b ** 2]) @ r.T
    t = np.array([cx, cy])
    m = np.zeros((3, 3))
    m[:2, :2] = q
    m[:2, 2] = m[2, :2] = -q @ t
    m[2, 2] = float(t @ q @ t) - 1.0
    return m / np.linalg.norm(m)


def fit_conic(points: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float, float]] | None:
    """Least-squares ellipse through ``points`` (N x 2, N >= 6): its conic and
    ``(cx, cy, a, b, theta)``; None when the points do not make an ellipse."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if pts.shape[0] < 6 or not np.isfinite(pts).all():
        return None
    try:
        (cx, cy), (w, h), ang = cv2.fitEllipseDirect(pts.astype(np.float32))
    except cv2.error:
        return None
    if not (np.isfinite([cx, cy, w, h, ang]).all() and w > 0 and h > 0):
        return None
    par = (float(cx), float(cy), float(w) / 2.0, float(h) / 2.0, math.radians(float(ang)))
    return ellipse_conic(*par), par


def conic_residual_px(par: tuple[float, float, float, float, float], points: np.ndarray) -> np.ndarray:
    """Approximate distance (px) of each point from the ellipse ``par``: the radial excess in the
    ellipse's normalised frame times the local radius (first order, fine for near-round ellipses)."""
    cx, cy, a, b, th = par
    p = np.asarray(points, np.float64).reshape(-1, 2) - (cx, cy)
    c, s = math.cos(th), math.sin(th)
    u = (p[:, 0] * c + p[:, 1] * s) / a
    v = (-p[:, 0] * s + p[:, 1] * c) / b
    rho = np.hypot(u, v)
    local = np.hypot(u * a, v * b) / np.maximum(rho, 1e-12)  # px per unit of rho along the ray
    return (rho - 1.0) * local


def common_centre(c_outer: np.ndarray, c_inner: np.ndarray) -> np.ndarray | None:
    """Image ``(x, y)`` of the common centre of two concentric circles from their image conics,
    or None when the pencil has no eigenvalue standing apart (the conics are not the images of
    two distinct concentric circles)."""
    try:
        vals, vecs = np.linalg.eig(np.linalg.solve(c_inner, c_outer))
    except np.linalg.LinAlgError:
        return None
    if np.abs(vals.imag).max() > 1e-6 * max(1.0, float(np.abs(vals).max())):
        return None
    lam = vals.real
    # the single eigenvalue is the one farthest from the other two (which coincide in theory)
    gaps = [abs(lam[i] - lam[(i + 1) % 3]) + abs(lam[i] - lam[(i + 2) % 3]) for i in range(3)]
    k = int(np.argmax(gaps))
    pair = [lam[j] for j in range(3) if j != k]
    spread = abs(pair[0] - pair[1])
    if not abs(lam[k] - 0.5 * (pair[0] + pair[1])) > 4.0 * spread:
        return None
    v = vecs[:, k].real
    if abs(v[2]) < 1e-12:
        return None
    return np.array([v[0] / v[2], v[1] / v[2]])


# ------------------------------------------------------------------ finding the rings in a photo
_N_RAYS = 256
_N_SECTORS = 16  # jackknife groups of rays for the centre's uncertainty
_RHO_MIN = 0.3  # innermost ring looked for, share of the outline's radius

_RING_SHARE = 0.6  # share of the rays on which a ring's edge must be found (sign and strength)
_RING_WIN = 0.03  # search window about the ring's radius on a unit, share of the outline's radius
_OUTLINE_SHARE = 0.7  # the outline is round when an ellipse follows this share of its perimeter
_RANSAC_TRIES = 150


@dataclass(frozen=True, slots=True)
class RoundBody:
    """A round product's body in one photo: the image of its centre (``centre``, px) and the
    1-sigma (RMS over x and y) uncertainty of it (``sigma_px``, by a jackknife over sectors of
    rays), the outline's and the inner ring's ellipses ``(cx, cy, a, b, theta)``, and the ring's
    radius (share of the outline's) and colour step outwards (unit vector in Lab)."""

    centre: np.ndarray
    sigma_px: float
    rim: tuple[float, float, float, float, float]
    ring: tuple[float, float, float, float, float]
    ring_rho: float
    ring_step: tuple[float, float, float]


def _ray_points(par: tuple[float, float, float, float, float], rho: np.ndarray, phi: np.ndarray) -> np.ndarray:
    cx, cy, a, b, th = par
    c, s = math.cos(th), math.sin(th)
    u = a * rho[None, :] * np.cos(phi)[:, None]
    v = b * rho[None, :] * np.sin(phi)[:, None]
    return np.stack([cx + c * u - s * v, cy + s * u + c * v], axis=-1)  # (rays, samples, 2)


def _edges(d: np.ndarray, pts: np.ndarray, lo: int, hi: int, sign: int, min_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Per ray, the sub-pixel extremum of ``sign * d`` in samples ``lo:hi``; (points, ray ids)
    of the rays whose extremum reaches ``min_step``."""
    seg = sign * d[:, lo:hi]
    k = np.argmax(seg, axis=1)
    peak = seg[np.arange(len(seg)), k]
    ok = (peak >= min_step) & (k > 0) & (k < seg.shape[1] - 1)
    rays = np.nonzero(ok)[0]
    kk = k[rays]
    y0, y1, y2 = seg[rays, kk - 1], seg[rays, kk], seg[rays, kk + 1]
    den = y0 - 2 * y1 + y2
    off = np.where(np.abs(den) > 1e-9, 0.5 * (y0 - y2) / np.where(np.abs(den) > 1e-9, den, 1.0), 0.0)
    off = np.clip(off, -0.5, 0.5)
    i = lo + kk
    p = pts[rays, i] + off[:, None] * (pts[rays, i + 1] - pts[rays, i - 1]) * 0.5
    return p, rays


def _robust_fit(p: np.ndarray, rays: np.ndarray):
    """Ellipse through ``p`` with points far off it (a chip, the print crossing the ring) left
    out; (conic, par, kept points, their rays) or None."""
    for _ in range(3):
        got = fit_conic(p)
        if got is None:
            return None
        r = np.abs(conic_residual_px(got[1], p))
        keep = r <= max(0.5, 3.0 * 1.4826 * float(np.median(r)))
        if keep.all():
            break
        p, rays = p[keep], rays[keep]
    got = fit_conic(p)
    return None if got is None else (got[0], got[1], p, rays)


def _outline_ellipse(cont: np.ndarray, tol: float, seed: int = 0):
    """The ellipse that most of the outline ``cont`` follows within ``tol`` px (RANSAC over
    six-point fits: something lying against the product, a ruler say, joins its silhouette),
    refitted on its inliers; None when none follows ``_OUTLINE_SHARE`` of its own perimeter."""
    rng = np.random.default_rng(seed)
    step = max(1, len(cont) // 400)
    cont = cont[::step]
    best, best_n = None, 0
    for _ in range(_RANSAC_TRIES):
        got = fit_conic(cont[rng.choice(len(cont), 6, replace=False)])
        if got is None:
            continue
        n = int((np.abs(conic_residual_px(got[1], cont)) <= tol).sum())
        if n > best_n:
            best, best_n = got[1], n
    if best is None:
        return None
    for _ in range(2):
        got = fit_conic(cont[np.abs(conic_residual_px(best, cont)) <= tol])
        if got is None:
            return None
        best = got[1]
    inl = np.abs(conic_residual_px(best, cont)) <= tol
    a, b = best[2], best[3]
    perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))  # Ramanujan
    # the contour has about one point per px of outline; an ellipse far off round is no circle's view
    if inl.sum() * step < _OUTLINE_SHARE * perimeter or min(a, b) < 0.5 * max(a, b):
        return None
    return best


def map_ellipse(par: tuple[float, float, float, float, float], h: np.ndarray):
    """The ellipse ``par`` mapped by the homography ``h`` (refitted through 90 of its points)."""
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    pts = _ray_points(par, np.ones(1), t)[:, 0]
    xyw = pts @ np.asarray(h)[:, :2].T + np.asarray(h)[:, 2]
    got = fit_conic(xyw[:, :2] / xyw[:, 2:3])
    return None if got is None else got[1]


def _step_dir(d: np.ndarray) -> tuple[np.ndarray, float]:
    """Colour step (unit vector) of the median over rays of ``d`` (rays, 3) and its length."""
    m = np.median(d, axis=0)
    n = float(np.linalg.norm(m))
    return (m / n if n > 0 else m), n


def find_round_body(image: np.ndarray, *, ring: tuple[float, tuple[float, float, float]] | None = None,
                    outline: tuple[float, float, float, float, float] | None = None) -> RoundBody | str:
    """The :class:`RoundBody` of a round product on a plain ground, or the reason there is none.

    The outline comes from the silhouette (:func:`goldenvision.registration.outline.silhouette`)
    and must be an ellipse; both the outline and an inner concentric ring are then located to a
    fraction of a px along ``_N_RAYS`` rays in the outline ellipse's own frame, as the extremum
    of the Lab profile's derivative projected on the ring's colour step (a ring is one colour
    step at one relative radius on most rays: a band, a groove, a foot; a print is not).
    ``ring`` ``(relative radius, colour step)`` looks for the golden's ring on a unit; without
    it, the ring with the strongest consistent step inside the outline is taken. ``outline``
    (an ellipse, px) says where to look for the outline instead of the silhouette (on a unit:
    the golden's outline mapped by the unit's alignment, which may slide it along itself but
    puts it within a few px; the edges found there are the unit's own).
    """
    try:
        return _find_round_body(image, ring, outline)
    except (cv2.error, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:  # odd content: no body
        return f"no round body found ({type(exc).__name__}: {exc})"


def _find_round_body(image: np.ndarray, ring: tuple[float, tuple[float, float, float]] | None,
                     outline: tuple[float, float, float, float, float] | None) -> RoundBody | str:
    from .outline import _WORK_PX, silhouette  # the silhouette lives with the outline registration

    rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    tol = 2.0 * max(rgb.shape[:2]) / _WORK_PX + 2.0  # the silhouette's own precision, px
    if outline is None:
        mask = silhouette(rgb)
        if mask is None:
            return "no product stands out of a plain ground"
        cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        par0 = _outline_ellipse(max(cs, key=len).reshape(-1, 2).astype(np.float64), tol)
        if par0 is None:
            return "the outline is not round (no ellipse follows most of it)"
    else:
        par0 = outline
    radius = math.sqrt(par0[2] * par0[3])
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab = cv2.GaussianBlur(lab, (0, 0), 1.0)
    drho = 0.5 / max(par0[2], par0[3])
    rho = np.arange(_RHO_MIN - 0.05, 1.12, drho)
    phi = np.linspace(0, 2 * np.pi, _N_RAYS, endpoint=False)
    pts = _ray_points(par0, rho, phi)
    prof = cv2.remap(lab, pts[..., 0].astype(np.float32), pts[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    d = np.gradient(prof, axis=1)  # Lab per 0.5 px outwards, (rays, samples, 3)

    def located(lo: int, hi: int, step: np.ndarray):
        full = d @ step
        # noise: the projected derivative's spread over the whole profile (mostly plain surface)
        noise = 1.4826 * float(np.median(np.abs(full - np.median(full))))
        return _edges(full, pts, lo, hi, 1, max(4.0 * noise, 0.1))

    # the outline: the strongest consistent colour step near the silhouette's ellipse (the
    # silhouette is found on a working image of _WORK_PX px: a few of its px either side)
    win = tol / radius
    lo, hi = np.searchsorted(rho, [1.0 - win, 1.0 + win])
    strength = [_step_dir(d[:, i])[1] for i in range(lo, hi)]
    rim_step, _ = _step_dir(d[:, lo + int(np.argmax(strength))])
    p, rays = located(lo, hi, rim_step)
    if len(rays) < _RING_SHARE * _N_RAYS:
        return f"the outline's edge is found on {len(rays)} of {_N_RAYS} rays"
    rim = _robust_fit(p, rays)
    if rim is None:
        return "the outline's edge does not fit an ellipse"
    inner = 1.0 - win  # a ring lies inside the outline's own search window
    if ring is None:
        top = int(np.searchsorted(rho, inner))
        strength = [_step_dir(d[:, i])[1] for i in range(top)]
        k = int(np.argmax(strength))
        ring_rho = float(rho[k])
        ring_step = _step_dir(d[:, k])[0]
    else:
        ring_rho, ring_step = ring[0], np.asarray(ring[1], np.float64)
    lo, hi = np.searchsorted(rho, [ring_rho - _RING_WIN, min(ring_rho + _RING_WIN, inner)])
    if hi - lo < 3:
        return "the ring lies too close to the outline"
    p, rays = located(lo, hi, ring_step)
    if len(rays) < _RING_SHARE * _N_RAYS:
        return (f"no ring concentric with the outline (found on {len(rays)} of {_N_RAYS} rays): a plain disc's "
                "centre is not pinned in perspective")
    rg = _robust_fit(p, rays)
    if rg is None:
        return "the ring does not fit an ellipse"
    centre = common_centre(rim[0], rg[0])
    if centre is None or not np.isfinite(centre).all():
        return "the outline and the ring are not concentric"
    # jackknife over sectors of rays: the spread of the centre with one sector left out
    sec_rim, sec_rg = rim[3] * _N_SECTORS // _N_RAYS, rg[3] * _N_SECTORS // _N_RAYS
    jack = []
    for s in range(_N_SECTORS):
        a, b = fit_conic(rim[2][sec_rim != s]), fit_conic(rg[2][sec_rg != s])
        c = None if a is None or b is None else common_centre(a[0], b[0])
        if c is None:
            return "the centre is not stable over the rays"
        jack.append(c)
    jk = np.asarray(jack)
    n = len(jk)
    sigma = math.sqrt((n - 1) / n * float(((jk - jk.mean(axis=0)) ** 2).sum()) / 2.0)
    return RoundBody(centre=centre, sigma_px=sigma, rim=rim[1], ring=rg[1], ring_rho=ring_rho,
                     ring_step=(float(ring_step[0]), float(ring_step[1]), float(ring_step[2])))


def _boost(p: np.ndarray) -> np.ndarray:
    """The projective map of the unit disc onto itself (a Lorentz boost of the Klein model) that
    takes the origin to ``p`` (|p| < 1) along the line through both."""
    r = float(np.hypot(*p))
    if r < 1e-12:
        return np.eye(3)
    c, s = p[0] / r, p[1] / r
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    b = np.array([[1.0, 0.0, r], [0.0, math.sqrt(1.0 - r * r), 0.0], [r, 0.0, 1.0]])
    return turn @ b @ turn.T


def body_alignment(golden: RoundBody, unit: RoundBody, h_content: np.ndarray) -> np.ndarray | None:
    """The content alignment ``h_content`` (unit px -> golden px) corrected so that it takes the
    unit's body centre onto the golden's while it keeps mapping the golden's outline onto itself:
    composed with the projective map of the golden's outline ellipse onto itself (a boost of the
    disc, the very freedom that let the content alignment slide the outline along itself) that
    moves where ``h_content`` puts the unit's centre to the golden's centre. The turn and scale
    stay the content's. None when the centre lands outside the outline."""
    cx, cy, a, b, th = golden.rim
    c, s = math.cos(th), math.sin(th)
    norm = np.diag([1.0 / a, 1.0 / b, 1.0]) @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    h = np.asarray(h_content, np.float64)
    xyw = norm @ h @ np.array([unit.centre[0], unit.centre[1], 1.0])
    p = xyw[:2] / xyw[2]
    q_h = norm @ np.array([golden.centre[0], golden.centre[1], 1.0])
    q = q_h[:2] / q_h[2]
    if not (np.hypot(*p) < 0.9 and np.hypot(*q) < 0.9):
        return None
    fix = np.linalg.inv(norm) @ _boost(q) @ np.linalg.inv(_boost(p)) @ norm
    out = fix @ h
    return out / out[2, 2]


def _body_misfit_px(golden: RoundBody, unit: RoundBody, h: np.ndarray) -> float | None:
    """RMS distance (px) of the unit's outline and ring mapped by ``h`` from the golden's, less
    each one's mean (a unit whose diameter is off by a tolerance fault keeps its own size)."""
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    out = []
    for u_par, g_par in ((unit.rim, golden.rim), (unit.ring, golden.ring)):
        pts = _ray_points(u_par, np.ones(1), t)[:, 0]
        xyw = pts @ h[:2, :2].T + h[:2, 2]
        wz = pts @ h[2, :2] + h[2, 2]
        if not np.all(wz > 0):
            return None
        r = conic_residual_px(g_par, xyw / wz[:, None])
        out.append(r - r.mean())
    return float(np.sqrt(np.mean(np.concatenate(out) ** 2)))


#: how far (px, golden) the print may sit off the body's centre before an alignment that follows
#: the print is no longer called the unit's alignment, beyond 3 sigma of the two centres and of
#: the alignment: a decal's production placement (the zoo's ceramic: +-0.15 mm, 0.7 px at 4.7 px/mm)
#: is the print's own variation, not a misregistration
PRINT_SLACK_PX = 1.5


def check_print_on_body(golden: RoundBody | None, unit_image: np.ndarray, reg: RegistrationResult) -> RegistrationResult:
    """``reg`` when the print it follows sits on the unit's body where the golden's does; else
    ``reg`` re-aligned to the unit's round body (method ``"...+body"``; a print that moved on the
    body stays moved in the warped image, for the anomaly stage to judge); else a
    refusal (``ok`` False, :attr:`RefusalCode.PRINT_MOVED`, or :attr:`RefusalCode.UNDETERMINED` when
    the unit's rings are not found) with the reason in words.

    For a round product a homography can follow a print that moved inside the outline by
    sliding the outline along itself (its perspective terms map a circle onto itself), so
    neither the content's fit nor the outline's says that anything moved. The unit's body
    centre (:func:`find_round_body`, its outline looked for where ``reg`` puts the golden's) is
    mapped by ``reg``; within 3 sigma of the golden's (the two centres' and the alignment's
    ``rms_px``) ``reg`` stands. Beyond, the unit is taken onto the golden's body by
    :func:`body_alignment`, kept when the unit's outline and ring then lie on the golden's within
    ``PRINT_SLACK_PX`` RMS (their mean distance apart, a diameter off size, excepted); without
    that, ``reg`` stands only within ``PRINT_SLACK_PX`` plus 3 sigma. ``golden`` None (not a round product
    with a ring, or not found on the golden) returns ``reg`` unchanged, as does a refused ``reg``.
    """
    if golden is None or not reg.ok or reg.flow is not None:
        return reg
    h = np.asarray(reg.homography, np.float64)
    where = map_ellipse(golden.rim, np.linalg.inv(h))
    unit = None if where is None else find_round_body(unit_image, ring=(golden.ring_rho, golden.ring_step),
                                                      outline=where)
    if not isinstance(unit, RoundBody):
        why = "the outline is not found" if unit is None else unit
        return replace(reg, ok=False, rms_px=math.inf, refusal=RefusalCode.UNDETERMINED, reason=(
            f"round product: the golden's outline and its concentric ring are not found on the unit ({why}), "
            "so the print's place on the body (which the alignment follows) cannot be checked"))
    xyw = h @ np.array([unit.centre[0], unit.centre[1], 1.0])
    off = float(np.hypot(xyw[0] / xyw[2] - golden.centre[0], xyw[1] / xyw[2] - golden.centre[1]))
    scale = math.sqrt(abs(float(np.linalg.det(h[:2, :2]))))
    sigma = math.sqrt(golden.sigma_px ** 2 + (scale * unit.sigma_px) ** 2 + float(reg.rms_px) ** 2)
    tol = PRINT_SLACK_PX + 3.0 * sigma
    if off <= 3.0 * sigma:  # the content alignment agrees with the body: it stands (it is the finer one)
        return reg
    hb = body_alignment(golden, unit, h)
    misfit = None if hb is None else _body_misfit_px(golden, unit, hb)
    if hb is not None and misfit is not None and misfit <= PRINT_SLACK_PX:
        # aligned to the body (its centre pinned by the rings, better than a print that slid the
        # outline along itself: zoo ceramic hand-held, 0.23-0.31 px against 0.60-5.13 px); a print
        # that moved on the body stays moved in the warped image, for the anomaly stage to judge
        return replace(reg, homography=hb, method=f"{reg.method}+body", rms_px=float(math.sqrt(
            float(reg.rms_px) ** 2 + golden.sigma_px ** 2 + (scale * unit.sigma_px) ** 2)))
    if off <= tol:
        return reg
    return replace(reg, ok=False, rms_px=math.inf, refusal=RefusalCode.PRINT_MOVED, reason=(
        f"print moved on the body: the alignment follows the print, which puts the unit's centre (from its "
        f"outline and concentric ring) {off:.1f} px from the golden's (allowed {tol:.1f} px), and the body does "
        f"not align on its own (outline and ring misfit {misfit if misfit is not None else math.inf:.1f} px): "
        "review the unit"))


# ------------------------------------------------------------------ starts from the body
_START_RADII = 48  # rings of the polar comparison, over _START_RHO of the outline's radius
_START_RHO = (0.05, 0.95)
_START_ANGLES = 720  # angle bins of the polar comparison (0.5 degree)
_START_PEAKS = 3  # turns (correlation peaks) handed on as starts
_START_PEAK_SEP_DEG = 10.0  # peaks closer than this are one
_START_RIVAL_SHARE = 0.5  # a turn correlating under this share of the best one is no rival of it
_START_HARMONICS = 3  # harmonics along each ring taken out (its mean, a light gradient, a soft highlight)


def _disc_norm(body: RoundBody) -> np.ndarray:
    """The projective map (3x3, px -> plane) that takes the body's outline ellipse onto the unit
    circle and its centre's image onto the origin: the view of the dish's own plane, scaled to its
    radius, up to a turn about the centre (an affine map onto the circle, then the boost of the
    disc that moves the centre to the origin)."""
    cx, cy, a, b, th = body.rim
    c, s = math.cos(th), math.sin(th)
    norm = np.diag([1.0 / a, 1.0 / b, 1.0]) @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    q = norm @ np.array([body.centre[0], body.centre[1], 1.0])
    p = q[:2] / q[2]
    if not np.hypot(*p) < 0.9:
        return norm
    return np.linalg.inv(_boost(p)) @ norm


def _polar(gray: np.ndarray, body: RoundBody) -> tuple[np.ndarray, np.ndarray]:
    """(rings, angles) samples of ``gray`` less its blur (detail only) on circles about the centre
    of the dish's own plane (:func:`_disc_norm`), each ring less its first ``_START_HARMONICS``
    harmonics along the angle, scaled to unit RMS over all rings (a ring with content weighs more
    than a plain one); and the plane -> px map."""
    norm = _disc_norm(body)
    # the print's detail, not the shading: less a blur over a few % of the radius
    sig = 0.03 * math.sqrt(body.rim[2] * body.rim[3])
    gray = gray - cv2.GaussianBlur(gray, (0, 0), sig)
    rho = np.linspace(*_START_RHO, _START_RADII)
    phi = np.linspace(0, 2 * np.pi, _START_ANGLES, endpoint=False)
    inv = np.linalg.inv(norm)
    u = rho[:, None] * np.cos(phi)[None, :]
    v = rho[:, None] * np.sin(phi)[None, :]
    w = inv[2, 0] * u + inv[2, 1] * v + inv[2, 2]
    x = (inv[0, 0] * u + inv[0, 1] * v + inv[0, 2]) / w
    y = (inv[1, 0] * u + inv[1, 1] * v + inv[1, 2]) / w
    p = cv2.remap(gray, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    p = p.astype(np.float64)
    # uneven light along a ring is smooth in the angle: its first harmonics go with the mean
    f = np.fft.rfft(p, axis=1)
    f[:, :_START_HARMONICS] = 0.0
    p = np.fft.irfft(f, n=_START_ANGLES, axis=1)
    rms = math.sqrt(float(np.mean(p * p)))
    return p / max(rms, 1e-6), norm


def body_starts(golden_gray: np.ndarray, golden: RoundBody, unit_gray: np.ndarray, unit: RoundBody
                ) -> list[tuple[np.ndarray, float]]:
    """Coarse alignments (unit px -> golden px, 3x3) of a round product from its body, with the
    turn that its content (a decal, a print) pins, and each turn's correlation; best first.

    The unit's outline ellipse is taken onto the golden's and its centre (pinned by the concentric
    ring) onto the golden's, each by the projective map of its own dish plane onto the unit disc
    (:func:`_disc_norm`); the turn about the centre is searched over the full
    circle by the circular cross-correlation of the two images' detail sampled on rings of the
    disc (each ring less its smooth variation along the ring, the first ``_START_HARMONICS``
    harmonics: its mean, a light gradient, a soft highlight). Up to ``_START_PEAKS`` turns are
    returned, those that correlate at least ``_START_RIVAL_SHARE`` as well as the best: a
    symmetric print gives several about as good, which the registration's verification and its
    rival check then judge. Nothing here claims precision: these are starts for
    :func:`goldenvision.registration.register` (zoo ceramic hand-held: the right turn at
    correlation 0.89-0.97, the next peaks 0.10-0.16, starts 0.6-1.5 px off on the rim).

    Parameters
    ----------
    golden_gray, unit_gray : ndarray, (H, W) uint8 or float32
        The golden reference and the unit photo in gray, px.
    golden, unit : RoundBody
        Their bodies (:func:`find_round_body`).
    """
    pg, n_g = _polar(np.asarray(golden_gray, np.float32), golden)
    pu, n_u = _polar(np.asarray(unit_gray, np.float32), unit)
    # corr[k]: unit angle phi matches golden angle phi + k bins (summed over rings)
    corr = np.fft.irfft((np.fft.rfft(pg, axis=1) * np.conj(np.fft.rfft(pu, axis=1))).sum(axis=0),
                        n=_START_ANGLES) / pg.size
    step = 360.0 / _START_ANGLES
    sep = int(round(_START_PEAK_SEP_DEG / step))
    order = np.argsort(corr)[::-1]
    peaks: list[int] = []
    for k in order:
        if all(min(abs(int(k) - q), _START_ANGLES - abs(int(k) - q)) > sep for q in peaks):
            peaks.append(int(k))
        if len(peaks) == _START_PEAKS:
            break
    out = []
    for k in peaks:
        if not corr[k] >= _START_RIVAL_SHARE * corr[peaks[0]]:
            continue
        # sub-bin turn from the parabola through the peak and its neighbours
        y0, y1, y2 = corr[k - 1], corr[k], corr[(k + 1) % _START_ANGLES]
        den = y0 - 2 * y1 + y2
        off = 0.5 * (y0 - y2) / den if abs(den) > 1e-12 else 0.0
        th = math.radians((k + float(np.clip(off, -0.5, 0.5))) * step)
        c, s_ = math.cos(th), math.sin(th)
        turn = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
        h = np.linalg.inv(n_g) @ turn @ n_u
        out.append((h / h[2, 2], float(corr[k])))
    return out
