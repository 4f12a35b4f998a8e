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

import cv2
import numpy as np

__all__ = ["ellipse_conic", "fit_conic", "conic_residual_px", "common_centre"]


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
