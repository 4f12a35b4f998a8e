"""Point mappings between frames (pure numpy/OpenCV, no I/O).

Conventions: points are ``(N, 2)`` float64 arrays of ``(x, y)`` px; homographies are 3x3
float64 acting on ``[x, y, 1]``.
"""

from __future__ import annotations

import numpy as np

from .results import RegistrationResult

__all__ = ["apply_homography", "map_points_to_moving", "map_points_to_reference", "local_scale"]


def apply_homography(points_px: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to ``(N, 2)`` points; returns ``(N, 2)`` float64."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(homography, dtype=np.float64)
    xyw = pts @ h[:, :2].T + h[:, 2]
    return xyw[:, :2] / xyw[:, 2:3]


def _sample_flow(flow: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear sample of an (H, W, 2) flow at (N, 2) px points (clamped at the border)."""
    h, w = flow.shape[:2]
    x = np.clip(pts[:, 0], 0, w - 1.000001)
    y = np.clip(pts[:, 1], 0, h - 1.000001)
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    f = flow.astype(np.float64)
    return (
        f[y0, x0] * (1 - fx) * (1 - fy)
        + f[y0, x0 + 1] * fx * (1 - fy)
        + f[y0 + 1, x0] * (1 - fx) * fy
        + f[y0 + 1, x0 + 1] * fx * fy
    )


def map_points_to_moving(points_ref_px: np.ndarray, result: RegistrationResult) -> np.ndarray:
    """Map reference (golden) px to moving (unit) px through a registration.

    A reference pixel ``p`` samples the moving image at ``H^-1 (p + flow(p))``, as in
    :class:`~goldenvision.results.RegistrationResult`.
    """
    pts = np.asarray(points_ref_px, dtype=np.float64).reshape(-1, 2)
    if result.flow is not None:
        pts = pts + _sample_flow(result.flow, pts)
    return apply_homography(pts, np.linalg.inv(result.homography))


def map_points_to_reference(points_moving_px: np.ndarray, result: RegistrationResult, *, iterations: int = 10) -> np.ndarray:
    """Map moving (unit) px to reference (golden) px (inverts the flow by fixed-point iteration)."""
    q = apply_homography(np.asarray(points_moving_px, dtype=np.float64).reshape(-1, 2), result.homography)
    if result.flow is None:
        return q
    p = q.copy()
    for _ in range(iterations):
        p = q - _sample_flow(result.flow, p)
    return p


def local_scale(homography: np.ndarray, point_px: np.ndarray, direction: np.ndarray) -> float:
    """Length factor of ``homography`` at ``point_px`` along the unit vector ``direction``."""
    p = np.asarray(point_px, dtype=np.float64).reshape(1, 2)
    d = np.asarray(direction, dtype=np.float64).reshape(1, 2)
    d = d / np.linalg.norm(d)
    eps = 0.5
    a, b = apply_homography(np.vstack([p - eps * d, p + eps * d]), homography)
    return float(np.linalg.norm(b - a) / (2 * eps))
