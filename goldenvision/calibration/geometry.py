"""Station geometry: ArUco fiducials -> homography -> rectified station frame; camera intrinsics.

Frames (see ``docs/DESIGN.md``): **camera px** are pixels of the decoded photo; the
**station frame** is the platen in mm (origin top-left, x right, y down); **rectified px**
sample the station frame at ``profile.scale_mm_per_px`` with pixel centres at integer
coordinates (``profile.mm_to_px``).

:func:`rectify` detects the profile's fiducials, fits one homography over all their corners
(least squares, Levenberg-Marquardt refined by ``cv2.findHomography``) and resamples the photo
once into the rectified frame. When the profile carries camera intrinsics, the corners are
undistorted first and the resampling map folds the lens model in (still one interpolation).

References
----------
.. [1] S. Garrido-Jurado et al., "Automatic generation and detection of highly reliable
   fiducial markers under occlusion", Pattern Recognition 47(6), 2014,
   doi:10.1016/j.patcog.2014.01.005 (ArUco).
.. [2] Z. Zhang, "A flexible new technique for camera calibration", IEEE TPAMI 22(11), 2000,
   doi:10.1109/34.888718.
.. [3] P. Duda, J. Frese, "Accurate detection and localization of checkerboard corners for
   calibration", BMVC 2018 (``cv2.findChessboardCornersSB``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import CalibrationError, ImageError
from .profile import StationProfile

__all__ = [
    "detect_markers",
    "Rectification",
    "rectify",
    "CameraCalibration",
    "calibrate_camera",
    "MAX_RECTIFY_RMS_PX",
    "MIN_MARKERS",
]

#: A rectification whose marker-corner residual exceeds this (rectified px) is refused.
MAX_RECTIFY_RMS_PX = 2.0
#: Fewest of the profile's fiducials that must be found.
MIN_MARKERS = 3

_codes = np.arange(256) / 255.0
_SRGB_DECODE_LUT = (np.where(_codes <= 0.04045, _codes / 12.92, ((_codes + 0.055) / 1.055) ** 2.4) * 255.0).astype(np.float32)


def _check_rgb(image_rgb: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(image_rgb)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise ImageError(f"{what}: expected (H, W, 3) uint8 RGB (or (H, W) uint8 gray), "
                         f"got shape {arr.shape} of {arr.dtype}")
    return arr


def _gray(image_rgb: np.ndarray) -> np.ndarray:
    return image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)


def _dictionary(name: str | None) -> Any:
    if not name:
        raise CalibrationError("station profile: marker_dictionary is not set; expected e.g. 'DICT_4X4_50'")
    code = getattr(cv2.aruco, str(name), None)
    if not isinstance(code, int) or not str(name).startswith("DICT_"):
        raise CalibrationError(f"station profile: unknown ArUco dictionary {name!r}; expected a cv2.aruco DICT_* name")
    return cv2.aruco.getPredefinedDictionary(code)


def _refine_corners_by_edges(gray: np.ndarray, corners: np.ndarray, n_cells: int) -> np.ndarray:
    """Refine a marker's 4 corners by fitting straight lines to its 4 outer edges.

    Each outer edge (black border -> white margin) is sampled across on many short profiles
    over its middle 60 %; the edge crossing on each profile is found by the area method
    (integral of the normalised step, unbiased for any symmetric blur), a line is fitted by
    total least squares, and each corner is the intersection of its two edge lines. Corners
    whose refinement moves them more than 1.5 px, or whose edges lack contrast, keep the
    input position.
    """
    c = corners.astype(np.float64)
    centre = c.mean(axis=0)
    lines: list[tuple[np.ndarray, np.ndarray] | None] = []
    for k in range(4):
        p, q = c[k], c[(k + 1) % 4]
        length = float(np.linalg.norm(q - p))
        if length < 8:
            return corners
        t = (q - p) / length
        nrm = np.array([t[1], -t[0]])
        if nrm @ ((p + q) / 2 - centre) < 0:
            nrm = -nrm
        r = float(np.clip(0.35 * length / n_cells, 1.5, 6.0))
        step = 0.25
        d = np.arange(-r, r + 1e-9, step)
        s = np.linspace(0.2, 0.8, max(8, int(0.6 * length))) * length
        pts = p + s[:, None, None] * t + d[None, :, None] * nrm  # (M, K, 2)
        prof = cv2.remap(gray, pts[..., 0].astype(np.float32), pts[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
        lo = prof[:, :3].mean(axis=1, keepdims=True)
        hi = prof[:, -3:].mean(axis=1, keepdims=True)
        good = (hi - lo).ravel() > 8.0  # linear-light codes (0..255 scale)
        if good.sum() < 5:
            lines.append(None)
            continue
        frac = np.clip((hi - prof) / np.maximum(hi - lo, 1e-9), 0.0, 1.0)[good]
        # trapezoid integral of the "still dark" fraction over d gives (edge - d[0])
        e = d[0] + step * (frac[:, 1:] + frac[:, :-1]).sum(axis=1) / 2.0
        edge_pts = p + s[good, None] * t + e[:, None] * nrm
        mu = edge_pts.mean(axis=0)
        _u, _sv, vt = np.linalg.svd(edge_pts - mu)
        lines.append((mu, vt[0]))
    out = c.copy()
    for k in range(4):
        a, b = lines[(k - 1) % 4], lines[k]
        if a is None or b is None:
            continue
        m = np.column_stack([a[1], -b[1]])
        if abs(np.linalg.det(m)) < 1e-6:
            continue
        lam = np.linalg.solve(m, b[0] - a[0])
        x = a[0] + lam[0] * a[1]
        if np.linalg.norm(x - c[k]) <= 1.5:
            out[k] = x
    return out


def _detect_raw(img: np.ndarray, profile: StationProfile) -> tuple[dict[int, np.ndarray], np.ndarray, int]:
    """ArUco detection with ``CORNER_REFINE_SUBPIX``: (id -> (4, 2) corners, gray, cells per side)."""
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 5
    params.cornerRefinementMaxIterations = 50
    params.cornerRefinementMinAccuracy = 0.01
    dictionary = _dictionary(profile.marker_dictionary)
    detector = cv2.aruco.ArucoDetector(dictionary, params)
    gray = _gray(img)
    corners, ids, _rejected = detector.detectMarkers(gray)
    found: dict[int, np.ndarray] = {}
    seen: dict[int, int] = {}
    if ids is not None:
        for c, raw_id in zip(corners, ids.ravel()):
            i = int(raw_id)
            seen[i] = seen.get(i, 0) + 1
            found[i] = np.asarray(c, dtype=np.float64).reshape(4, 2)
    found = {i: c for i, c in sorted(found.items()) if seen[i] == 1}
    return found, gray, int(dictionary.markerSize) + 2


def _refine_all(raw: dict[int, np.ndarray], gray: np.ndarray, n_cells: int, edge_light: str) -> dict[int, np.ndarray]:
    g = _SRGB_DECODE_LUT[gray] if edge_light == "linear" else gray.astype(np.float32)
    return {i: _refine_corners_by_edges(g, c, n_cells) for i, c in raw.items()}


EDGE_LIGHTS = ("linear", "encoded")


def detect_markers(
    image_rgb: np.ndarray, profile: StationProfile, *, refine: str = "edges", edge_light: str = "linear"
) -> dict[int, np.ndarray]:
    """Detect the ArUco fiducials of ``profile.marker_dictionary`` in a photo.

    Parameters
    ----------
    image_rgb : ndarray, shape (H, W, 3) uint8 RGB, or (H, W) uint8 gray
        The photo, camera px.
    profile : StationProfile
        Supplies ``marker_dictionary`` (e.g. ``"DICT_4X4_50"``).
    refine : {"edges", "subpix"}, keyword-only
        ``"subpix"``: OpenCV's ``CORNER_REFINE_SUBPIX`` (``cornerSubPix``) only. ``"edges"``
        (default): that, then each corner as the intersection of lines fitted to the marker's
        outer edges (a few hundredths of a px on synthetic markers, against 0.1-0.2 px for
        ``cornerSubPix``, whose window also sees the marker's inner bits).
    edge_light : {"linear", "encoded"}, keyword-only
        Where the half-way point of an edge is taken: ``"linear"`` decodes the codes as sRGB
        first (right when the blur happened in linear light, as in a camera's optics);
        ``"encoded"`` uses the codes as they are (right for images blurred after encoding,
        e.g. resampled 8-bit files). :func:`rectify` tries both and keeps the better fit.

    Returns
    -------
    dict of int to ndarray, shape (4, 2), float64
        Marker id -> its corners (x, y) in camera px, in OpenCV's order (top-left, top-right,
        bottom-right, bottom-left as printed), sub-pixel refined.
        Every decoded id of the dictionary is returned; an id seen more than once is
        ambiguous and left out.
    """
    if refine not in ("edges", "subpix"):
        raise CalibrationError(f"detect_markers: refine={refine!r}; expected 'edges' or 'subpix'")
    if edge_light not in EDGE_LIGHTS:
        raise CalibrationError(f"detect_markers: edge_light={edge_light!r}; expected one of {list(EDGE_LIGHTS)}")
    img = _check_rgb(image_rgb, "detect_markers image_rgb")
    raw, gray, n_cells = _detect_raw(img, profile)
    if refine == "subpix":
        return raw
    return _refine_all(raw, gray, n_cells, edge_light)


@dataclass(frozen=True)
class Rectification:
    """A photo resampled into the rectified station frame.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), uint8
        The rectified station frame, ``(W, H) = profile.frame_px``.
    homography : ndarray, shape (3, 3), float64
        Camera px -> rectified px (of the undistorted photo when the profile has intrinsics).
    rms_px : float
        RMS distance, in rectified px, between the marker corners mapped through
        ``homography`` and their nominal positions.
    markers : tuple of int
        Ids of the profile's fiducials used.
    """

    image: np.ndarray
    homography: np.ndarray
    rms_px: float
    markers: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ImageError(f"Rectification.image: expected (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if np.asarray(self.homography).shape != (3, 3):
            raise CalibrationError(f"Rectification.homography: expected shape (3, 3), got {np.asarray(self.homography).shape}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (without the image)."""
        return {
            "homography": np.asarray(self.homography).tolist(),
            "rms_px": float(self.rms_px),
            "markers": list(self.markers),
            "shape": list(self.image.shape),
        }


def _undistort_points(pts_px: np.ndarray, profile: StationProfile) -> np.ndarray:
    k = np.asarray(profile.camera_matrix, dtype=np.float64)
    d = np.zeros(5) if profile.dist_coeffs is None else np.asarray(profile.dist_coeffs, dtype=np.float64).ravel()
    out = cv2.undistortPoints(
        pts_px.reshape(-1, 1, 2), k, d, R=None, P=k, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-8)
    )
    return out.reshape(-1, 2)


def _distorting_maps(h_inv: np.ndarray, size: tuple[int, int], profile: StationProfile) -> tuple[np.ndarray, np.ndarray]:
    """Remap tables: rectified px -> (undistorted camera px via H^-1) -> raw camera px."""
    w, h = size
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(w * h)], axis=1) @ h_inv.T
    pts = pts[:, :2] / pts[:, 2:3]
    k = np.asarray(profile.camera_matrix, dtype=np.float64)
    d = np.zeros(5) if profile.dist_coeffs is None else np.asarray(profile.dist_coeffs, dtype=np.float64).ravel()
    norm = np.empty((pts.shape[0], 1, 3))
    norm[:, 0, 0] = (pts[:, 0] - k[0, 2] - k[0, 1] * (pts[:, 1] - k[1, 2]) / k[1, 1]) / k[0, 0]
    norm[:, 0, 1] = (pts[:, 1] - k[1, 2]) / k[1, 1]
    norm[:, 0, 2] = 1.0
    raw, _ = cv2.projectPoints(norm, np.zeros(3), np.zeros(3), k, d)
    raw = raw.reshape(h, w, 2).astype(np.float32)
    return raw[..., 0], raw[..., 1]


def _fit_with_edge_bias(
    cam: np.ndarray, ref: np.ndarray, used: tuple[int, ...], profile: StationProfile, hom0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Homography plus one common edge offset of all markers (least squares, rectified px).

    Wherever the black/white transition is taken (camera tone curve, blur, ink spread), every
    marker looks uniformly dilated or eroded by the same small amount; its corners then move
    along the diagonals while its centre stays put. Fitting that offset ``delta`` together
    with the homography keeps the bias out of the homography. Returns the homography and the
    marker corners (rectified px) at the fitted offset.
    """
    from scipy.optimize import least_squares

    centres = np.repeat(np.array([profile.marker_corners_mm[i].mean(axis=0) for i in used]), 4, axis=0)
    corners_mm = np.concatenate([profile.marker_corners_mm[i] for i in used])
    unit = np.sign(corners_mm - centres)  # (+-1, +-1) per corner
    if len(used) < 3:
        return hom0, ref
    h0 = hom0 / hom0[2, 2]

    def model(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.append(p[:8], 1.0).reshape(3, 3)
        xyw = cam @ h[:, :2].T + h[:, 2]
        return xyw[:, :2] / xyw[:, 2:3], profile.mm_to_px(corners_mm + unit * p[8])

    def resid(p: np.ndarray) -> np.ndarray:
        proj, tgt = model(p)
        return (proj - tgt).ravel()

    sol = least_squares(resid, np.append(h0.ravel()[:8], 0.0), method="lm", x_scale="jac")
    if not sol.success or not np.all(np.isfinite(sol.x)):
        return hom0, ref
    _proj, tgt = model(sol.x)
    return np.append(sol.x[:8], 1.0).reshape(3, 3), tgt


def rectify(image_rgb: np.ndarray, profile: StationProfile, *, interpolation: int = cv2.INTER_LINEAR) -> Rectification:
    """Resample a photo into the rectified station frame using the profile's fiducials.

    Parameters
    ----------
    image_rgb : ndarray, shape (H, W, 3), uint8 RGB
        The photo, camera px.
    profile : StationProfile
        Fiducial dictionary and corner positions (station mm), ``scale_mm_per_px``,
        ``frame_mm`` and optionally ``camera_matrix``/``dist_coeffs``.
    interpolation : int, keyword-only
        OpenCV interpolation flag for the resampling (``cv2.INTER_LINEAR`` default).

    Returns
    -------
    Rectification

    Raises
    ------
    CalibrationError
        The profile has no fiducials; fewer than ``MIN_MARKERS`` of them are found; or the
        corner residual exceeds ``MAX_RECTIFY_RMS_PX`` rectified px. The message names the
        markers expected and found.
    """
    img = _check_rgb(image_rgb, "rectify image_rgb")
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if not profile.marker_corners_mm:
        raise CalibrationError(f"station profile {profile.id!r} defines no fiducial markers; cannot rectify")
    expected = sorted(profile.marker_corners_mm)
    raw, gray, n_cells = _detect_raw(img, profile)
    used = tuple(i for i in expected if i in raw)
    if len(used) < MIN_MARKERS:
        raise CalibrationError(
            f"rectify: found markers {sorted(raw)} of the profile's {expected} "
            f"(usable: {list(used)}); expected at least {MIN_MARKERS}"
        )
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    for light in EDGE_LIGHTS:
        found = _refine_all({i: raw[i] for i in used}, gray, n_cells, light)
        cam = np.concatenate([found[i] for i in used])
        if profile.camera_matrix is not None:
            cam = _undistort_points(cam, profile)
        ref = np.concatenate([profile.mm_to_px(profile.marker_corners_mm[i]) for i in used])
        hom, _mask = cv2.findHomography(cam, ref, 0)
        if hom is None or not np.all(np.isfinite(hom)):
            continue
        hom, ref = _fit_with_edge_bias(cam, ref, used, profile, hom)
        proj = cv2.perspectiveTransform(cam.reshape(-1, 1, 2), hom).reshape(-1, 2)
        rms = float(np.sqrt(np.mean(np.sum((proj - ref) ** 2, axis=1))))
        if best is None or rms < best[0]:
            best = (rms, hom, proj, ref)
    if best is None:
        raise CalibrationError(f"rectify: no homography from markers {list(used)} (degenerate corner layout)")
    rms, hom, proj, ref = best
    if not rms <= MAX_RECTIFY_RMS_PX:
        per = {i: float(np.sqrt(np.mean(np.sum((proj[4 * k: 4 * k + 4] - ref[4 * k: 4 * k + 4]) ** 2, axis=1))))
               for k, i in enumerate(used)}
        raise CalibrationError(
            f"rectify: marker-corner residual {rms:.2f} px exceeds {MAX_RECTIFY_RMS_PX} px "
            f"(markers found {list(used)}, per-marker rms px {({i: round(v, 2) for i, v in per.items()})}); "
            "is the profile right for this station, or a marker damaged/misplaced?"
        )
    size = profile.frame_px
    if profile.camera_matrix is None:
        out = cv2.warpPerspective(img, hom, size, flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    else:
        mx, my = _distorting_maps(np.linalg.inv(hom), size, profile)
        out = cv2.remap(img, mx, my, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return Rectification(image=out, homography=hom, rms_px=rms, markers=used)


@dataclass(frozen=True)
class CameraCalibration:
    """Camera intrinsics from chessboard views (OpenCV pinhole + radial/tangential model).

    Attributes
    ----------
    camera_matrix : ndarray, shape (3, 3), float64
        ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in camera px.
    dist_coeffs : ndarray, shape (5,), float64
        ``k1, k2, p1, p2, k3``.
    rms_px : float
        RMS reprojection error of all used corners, camera px.
    n_used : int
        Number of views whose chessboard was found and used.
    image_size : tuple of int
        (width, height) of the views, px.
    used : tuple of int
        Indices (into the ``images`` given) of the views used.
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    rms_px: float
    n_used: int
    image_size: tuple[int, int] = (0, 0)
    used: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the ``camera:`` block of a station profile uses matrix/dist)."""
        return {
            "matrix": np.asarray(self.camera_matrix).tolist(),
            "dist": np.asarray(self.dist_coeffs).ravel().tolist(),
            "rms_px": float(self.rms_px),
            "n_used": int(self.n_used),
            "image_size": list(self.image_size),
            "used": list(self.used),
        }


def find_chessboard(gray: np.ndarray, pattern_size: tuple[int, int]) -> np.ndarray | None:
    """Inner chessboard corners (N, 2) float64 in px, or None when the board is not found.

    ``cv2.findChessboardCornersSB`` [3]_ first (sub-pixel accurate by itself); the classic
    ``cv2.findChessboardCorners`` + ``cv2.cornerSubPix`` as a fallback.
    """
    ok, corners = cv2.findChessboardCornersSB(gray, pattern_size, flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE)
    if ok:
        return corners.reshape(-1, 2).astype(np.float64)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    ok, corners = cv2.findChessboardCorners(gray, pattern_size, flags=flags)
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001)
    corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), crit)
    return corners.reshape(-1, 2).astype(np.float64)


def calibrate_camera(
    images: Sequence[np.ndarray], *, pattern_size: tuple[int, int] = (8, 6), square_mm: float = 1.0
) -> CameraCalibration:
    """Estimate camera intrinsics and lens distortion from chessboard photos (Zhang [2]_).

    Parameters
    ----------
    images : sequence of ndarray, each (H, W, 3) uint8 RGB or (H, W) uint8 gray
        Views of a planar chessboard, all of the same size.
    pattern_size : (int, int), keyword-only
        Inner corners per row and per column.
    square_mm : float, keyword-only
        Square side in mm (scales the board; intrinsics do not depend on it).

    Returns
    -------
    CameraCalibration

    Raises
    ------
    CalibrationError
        Fewer than 3 views with a detected board, or views of different sizes.
    """
    if square_mm <= 0:
        raise CalibrationError(f"calibrate_camera: square_mm must be > 0, got {square_mm}")
    cols, rows = int(pattern_size[0]), int(pattern_size[1])
    board = np.zeros((cols * rows, 3), np.float32)
    board[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * float(square_mm)
    obj_pts: list[np.ndarray] = []
    img_pts: list[np.ndarray] = []
    used: list[int] = []
    size: tuple[int, int] | None = None
    for n, image in enumerate(images):
        img = _check_rgb(image, f"calibrate_camera images[{n}]")
        s = (img.shape[1], img.shape[0])
        if size is None:
            size = s
        elif s != size:
            raise CalibrationError(f"calibrate_camera images[{n}]: size {s[0]}x{s[1]} differs from the first view's {size[0]}x{size[1]}")
        corners = find_chessboard(_gray(img), (cols, rows))
        if corners is None:
            continue
        obj_pts.append(board)
        img_pts.append(corners.astype(np.float32).reshape(-1, 1, 2))
        used.append(n)
    if len(used) < 3 or size is None:
        raise CalibrationError(
            f"calibrate_camera: chessboard {cols}x{rows} found in {len(used)} of {len(images)} views; expected at least 3"
        )
    rms, k, d, _r, _t = cv2.calibrateCamera(obj_pts, img_pts, size, None, None)
    return CameraCalibration(
        camera_matrix=np.asarray(k, dtype=np.float64),
        dist_coeffs=np.asarray(d, dtype=np.float64).ravel(),
        rms_px=float(rms),
        n_used=len(used),
        image_size=size,
        used=tuple(used),
    )
