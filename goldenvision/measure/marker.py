"""A known-size marker in a hand-held photo (the spec's ``scale_marker``): found, its corners
refined, and its plane (:class:`MarkerFrame`) for dimensions measured against it
(``DimensionReference.MARKER``, see :mod:`goldenvision.measure.dimensions`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..calibration.color import linear_luminance
from ..errors import GoldenVisionError, SpecError
from .fitting import measure_line

__all__ = ["MarkerFrame", "find_scale_marker", "MARKER_CORNER_STD_PX", "ALIGNED_CORNER_STD_PX"]

#: 1-sigma position error (px) assumed for each ArUco corner when the edges cannot be fitted
#: (OpenCV's sub-pixel corner on a JPEG photo); propagated into marker-referenced dimensions.
MARKER_CORNER_STD_PX = 0.1
#: 1-sigma corner error (px) of a marker whose sides lie along the pixel grid (:func:`_refine_corners`)
ALIGNED_CORNER_STD_PX = 0.1
#: a side whose fitted stretch crosses fewer px columns (rows) than this lies along the pixel grid
ALIGNED_SPAN_PX = 1.0


@dataclass(frozen=True)
class MarkerFrame:
    """A known-size marker found in a unit photo: its plane in mm.

    Attributes
    ----------
    corners_px : ndarray (4, 2)
        The marker's outer corners (TL, TR, BR, BL in the marker's own frame), unit px.
    size_mm : float
        The side of the marker's square, mm.
    homography : ndarray (3, 3)
        Unit px -> mm in the marker's plane (origin at its top-left corner).
    corner_std_px : float
        Assumed 1-sigma error of each corner, px.
    """

    corners_px: np.ndarray
    size_mm: float
    homography: np.ndarray
    corner_std_px: float = MARKER_CORNER_STD_PX

    def to_mm(self, pts_px: np.ndarray, homography: np.ndarray | None = None) -> np.ndarray:
        """(N, 2) unit px -> (N, 2) mm in the marker's plane."""
        h = self.homography if homography is None else homography
        p = np.asarray(pts_px, np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(p, h).reshape(-1, 2)

    def length_std_mm(self, pts_px: np.ndarray, n_draws: int = 64) -> float:
        """1-sigma error (mm) of the distance between two unit px points that comes from the
        marker's corners alone: the corners drawn again with their error (a fixed seed, so the
        figure is reproducible), the homography refitted and the distance re-read."""
        p = np.asarray(pts_px, np.float64).reshape(2, 2)
        rng = np.random.default_rng(0)
        square = _square_mm(self.size_mm)
        d = []
        for _ in range(n_draws):
            c = self.corners_px + rng.normal(0.0, self.corner_std_px, self.corners_px.shape)
            h = cv2.getPerspectiveTransform(c.astype(np.float32), square)
            q = self.to_mm(p, h)
            d.append(float(np.hypot(*(q[1] - q[0]))))
        return float(np.std(d, ddof=1))

    def local_mm_per_px(self, pt_px: np.ndarray) -> float:
        """Length factor (mm per unit px, geometric mean over the two axes) of the marker plane at ``pt_px``."""
        c = np.asarray(pt_px, np.float64).reshape(2)
        q = self.to_mm(np.array([c, c + [1.0, 0.0], c + [0.0, 1.0]]))
        j = np.c_[q[1] - q[0], q[2] - q[0]]
        return math.sqrt(abs(float(np.linalg.det(j))))


def _square_mm(size_mm: float) -> np.ndarray:
    s = float(size_mm)
    return np.array([[0.0, 0.0], [s, 0.0], [s, s], [0.0, s]], np.float32)


def find_scale_marker(image: np.ndarray, marker: Any) -> MarkerFrame | None:
    """Find the spec's known-size marker (``Spec.scale_marker``) in a unit photo, or None.

    ArUco markers only (``marker.type == "aruco"``): ``cv2.aruco`` with sub-pixel corner
    refinement, the marker of ``marker.id`` in ``marker.dictionary`` (e.g. ``DICT_4X4_50``).
    None when the marker is not in the photo, appears more than once, or is too small
    (under 24 px a side) to be a reference.

    Raises
    ------
    SpecError
        An unknown dictionary name or marker type.
    """
    if getattr(marker, "type", "aruco") != "aruco":
        raise SpecError(f"scale_marker.type: expected 'aruco', got {marker.type!r}")
    name = str(marker.dictionary)
    if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        raise SpecError(f"scale_marker.dictionary: {name!r} is not an OpenCV ArUco dictionary (e.g. 'DICT_4X4_50')")
    img = np.asarray(image)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    if gray.dtype != np.uint8:
        raise SpecError(f"find_scale_marker: expected a uint8 image, got {gray.dtype}")
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 3
    params.cornerRefinementMinAccuracy = 0.01
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name)), params)
    corners, ids, _ = det.detectMarkers(gray)
    if ids is None:
        return None
    found = [c.reshape(4, 2).astype(np.float64) for c, i in zip(corners, ids.ravel()) if int(i) == int(marker.id)]
    if len(found) != 1:
        return None
    c = found[0]
    side = float(np.mean(np.linalg.norm(c - np.roll(c, -1, axis=0), axis=1)))
    if side < 24.0:
        return None
    refined = _refine_corners(img, c)
    std = MARKER_CORNER_STD_PX
    if refined is not None:
        c, std = refined
    h = cv2.getPerspectiveTransform(c.astype(np.float32), _square_mm(marker.size_mm))
    return MarkerFrame(corners_px=c, size_mm=float(marker.size_mm), homography=h, corner_std_px=std)


def _refine_corners(image: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The marker's corners as the intersections of its four outer edges, each a straight line
    fitted to sub-pixel caliper edges (erf fits in linear light) along the middle 70 % of the
    side, and their 1-sigma error from the lines' residuals; None if a side cannot be fitted.

    A corner detector's position is biased by blur and JPEG (measured on the zoo's hand-held
    photos: the marker read ~0.4 % small from OpenCV's sub-pixel corners); the intersection
    of two long fitted edges is not."""
    gray = linear_luminance(image) if image.ndim == 3 else image.astype(np.float32)
    lines = []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        d = b - a
        n = max(8, min(40, int(np.hypot(*d) / 4)))
        try:
            fit = measure_line(gray, a + 0.15 * d, a + 0.85 * d, search_px=5.0, n_calipers=n, width_px=3.0)
        except GoldenVisionError:
            return None
        if fit.inliers.sum() < 6:
            return None
        lines.append((np.asarray(fit.point_px), np.asarray(fit.direction), fit.rms_px / math.sqrt(fit.inliers.sum())))
    out = np.zeros((4, 2))
    for k in range(4):  # corner k lies on sides k-1 and k
        (p1, d1, _), (p2, d2, _) = lines[k - 1], lines[k]
        m = np.c_[d1, -d2]
        if abs(np.linalg.det(m)) < 1e-6:
            return None
        t = np.linalg.solve(m, p2 - p1)
        out[k] = p1 + t[0] * d1
    if np.max(np.linalg.norm(out - corners, axis=1)) > 2.0:  # not the same square: keep the detector's
        return None
    # a corner moves with the offsets of its two lines (plus their angles, ignored): sqrt 2 x
    std = max(0.02, math.sqrt(2.0) * float(np.mean([ln[2] for ln in lines])))
    # A side along the pixel grid is sampled at one sub-pixel phase all along: the edge fit's
    # phase-dependent bias (pixel integration, JPEG's 8 x 8 blocks) is then the same on every
    # caliper, so it neither averages out nor shows in the residuals, and as the phase drifts a
    # little along the side it tilts the line. Measured on the zoo's hand-held lots (seeds 0 and 3,
    # 128 markers): the 8 markers whose sides crossed under 0.2 px columns (rows) over their fitted
    # stretch had corners 0.088-0.106 px off, the other 120 at most 0.034 px (rms 0.018); carried
    # 70 mm beside the marker, 0.09 px read a dish 1.2 % large. Such a marker's corners take
    # ALIGNED_CORNER_STD_PX.
    for k in range(4):
        d = corners[(k + 1) % 4] - corners[k]
        span = 0.7 * min(abs(float(d[0])), abs(float(d[1])))  # columns (rows) crossed along it
        if span < ALIGNED_SPAN_PX:
            std = max(std, ALIGNED_CORNER_STD_PX)
    return out, std
