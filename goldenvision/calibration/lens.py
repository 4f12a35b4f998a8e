"""Camera intrinsics and lens distortion from board photos, with the lens model chosen on held-out views.

Frames: **camera px** are pixels of the decoded photo; **undistorted px** are pixels of the
ideal pinhole camera with the same camera matrix (``undistort_image`` resamples into it);
**board mm** are the calibration board's coordinates (origin at its first inner corner).

Lens models (``LENS_MODELS``):

``"pinhole"``
    OpenCV's Brown-Conrady model: radial ``k1, k2, k3`` and tangential ``p1, p2`` [1]_ [2]_.
``"rational"``
    OpenCV's rational radial model ``(1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)``
    plus tangential terms (``cv2.CALIB_RATIONAL_MODEL``); for strong barrel distortion.
``"fisheye"``
    OpenCV's equidistant fisheye model ``theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8)``
    [3]_ (``cv2.fisheye``); for wide-angle and action cameras.

:func:`calibrate_geometry` fits each candidate on all usable views and scores it on held-out
views (k-fold over views: the intrinsics come from the other views, only the board pose is
fitted on the held-out view), so a model with more coefficients wins only when it predicts
unseen views better, not merely because it fits the same views more closely.

References
----------
.. [1] Z. Zhang, "A flexible new technique for camera calibration", IEEE TPAMI 22(11), 2000,
   doi:10.1109/34.888718.
.. [2] D. C. Brown, "Decentering distortion of lenses", Photogrammetric Engineering 32(3), 1966.
.. [3] J. Kannala, S. S. Brandt, "A generic camera model and calibration method for
   conventional, wide-angle, and fish-eye lenses", IEEE TPAMI 28(8), 2006,
   doi:10.1109/TPAMI.2006.153.
.. [4] S. Garrido-Jurado et al., "Automatic generation and detection of highly reliable
   fiducial markers under occlusion", Pattern Recognition 47(6), 2014 (ChArUco boards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import CalibrationError, ImageError

__all__ = [
    "BoardSpec",
    "LENS_MODELS",
    "LensModel",
    "GeometryCalibration",
    "detect_board",
    "fit_lens_model",
    "calibrate_geometry",
    "reprojection_rms_px",
    "line_straightness_px",
    "mm_per_px_from_board",
    "MIN_VIEWS",
]

LENS_MODELS = ("pinhole", "rational", "fisheye")
#: Fewest usable views for a calibration.
MIN_VIEWS = 4
#: A view whose own reprojection RMS exceeds this multiple of the median (and 1 px) is rejected.
OUTLIER_FACTOR = 4.0
_CRIT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)


@dataclass(frozen=True)
class BoardSpec:
    """A planar calibration board.

    Attributes
    ----------
    kind : {"chessboard", "charuco"}
    inner_corners : (int, int)
        Inner corners per row and per column (a ChArUco board of 10 x 7 squares has 9 x 6).
    square_mm : float
        Side of one square, mm.
    marker_mm : float
        ChArUco only: side of the ArUco marker inside a white square, mm.
    dictionary : str
        ChArUco only: a ``cv2.aruco`` ``DICT_*`` name.
    legacy : bool
        ChArUco only: boards printed with OpenCV < 4.6 (``setLegacyPattern``).
    """

    kind: str
    inner_corners: tuple[int, int]
    square_mm: float
    marker_mm: float = 0.0
    dictionary: str = "DICT_5X5_100"
    legacy: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("chessboard", "charuco"):
            raise CalibrationError(f"BoardSpec.kind: expected 'chessboard' or 'charuco', got {self.kind!r}")
        cols, rows = (int(v) for v in self.inner_corners)
        if cols < 2 or rows < 2:
            raise CalibrationError(f"BoardSpec.inner_corners: expected at least 2x2, got {cols}x{rows}")
        object.__setattr__(self, "inner_corners", (cols, rows))
        if not self.square_mm > 0:
            raise CalibrationError(f"BoardSpec.square_mm: expected > 0, got {self.square_mm}")
        if self.kind == "charuco":
            if not 0 < self.marker_mm < self.square_mm:
                raise CalibrationError(
                    f"BoardSpec.marker_mm: expected 0 < marker_mm < square_mm={self.square_mm}, got {self.marker_mm}")
            code = getattr(cv2.aruco, str(self.dictionary), None)
            if not isinstance(code, int) or not str(self.dictionary).startswith("DICT_"):
                raise CalibrationError(f"BoardSpec.dictionary: unknown ArUco dictionary {self.dictionary!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BoardSpec":
        """From a board definition (``calibration/boards/*.yaml``); raises CalibrationError on a bad key."""
        try:
            ic = d["inner_corners"]
            if isinstance(ic, str):
                ic = [int(v) for v in ic.lower().split("x")]
            return cls(kind=str(d["kind"]), inner_corners=(int(ic[0]), int(ic[1])), square_mm=float(d["square_mm"]),
                       marker_mm=float(d.get("marker_mm", 0.0)), dictionary=str(d.get("dictionary", "DICT_5X5_100")),
                       legacy=bool(d.get("legacy", False)))
        except KeyError as exc:
            raise CalibrationError(f"board definition: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"board definition: invalid value ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "inner_corners": list(self.inner_corners), "square_mm": self.square_mm}
        if self.kind == "charuco":
            d.update(marker_mm=self.marker_mm, dictionary=self.dictionary, legacy=self.legacy)
        return d

    def object_points_mm(self) -> np.ndarray:
        """All inner corners in board mm, (N, 3) float64, row-major (x fastest), z = 0."""
        cols, rows = self.inner_corners
        pts = np.zeros((cols * rows, 3))
        pts[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * self.square_mm
        return pts

    def _charuco(self) -> Any:
        cols, rows = self.inner_corners
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard((cols + 1, rows + 1), float(self.square_mm), float(self.marker_mm), d)
        board.setLegacyPattern(bool(self.legacy))
        return board


def _gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def detect_board(image_rgb: np.ndarray, board: BoardSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Find a board's inner corners in a photo.

    Parameters
    ----------
    image_rgb : ndarray, shape (H, W, 3) or (H, W), uint8
        The photo, camera px.
    board : BoardSpec

    Returns
    -------
    (image_px, object_mm, ids) or None
        ``image_px`` (N, 2) float64 sub-pixel corners in camera px, ``object_mm`` (N, 3) their
        board coordinates, ``ids`` (N,) int their index in :meth:`BoardSpec.object_points_mm`
        (row-major). A chessboard gives all corners or None; a ChArUco board may give a
        subset (None under 6 corners).
    """
    img = np.asarray(image_rgb)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
        raise ImageError(f"detect_board image: expected (H, W, 3) or (H, W) uint8, got {img.shape} {img.dtype}")
    gray = _gray(img)
    obj = board.object_points_mm()
    if board.kind == "chessboard":
        from .geometry import find_chessboard

        pts = find_chessboard(gray, board.inner_corners)
        if pts is None:
            return None
        pts = _canonical_order(pts, board.inner_corners)
        return pts, obj, np.arange(len(obj))
    detector = cv2.aruco.CharucoDetector(board._charuco())
    ch_corners, ch_ids, _mc, _mi = detector.detectBoard(gray)
    if ch_ids is None or len(ch_ids) < 6:
        return None
    ids = np.asarray(ch_ids, dtype=int).ravel()
    pts = np.asarray(ch_corners, dtype=np.float64).reshape(-1, 2)
    return pts, obj[ids], ids


def _canonical_order(pts: np.ndarray, inner: tuple[int, int]) -> np.ndarray:
    """A symmetric chessboard can be found starting at either end; start at the top-left-most end."""
    cols, rows = inner
    grid = pts.reshape(rows, cols, 2)
    if grid[0, 0].sum() > grid[-1, -1].sum():
        grid = grid[::-1, ::-1]
    return grid.reshape(-1, 2).copy()


@dataclass(frozen=True, eq=False)
class LensModel:
    """Fitted intrinsics of one lens model.

    Attributes
    ----------
    model : str
        One of :data:`LENS_MODELS`.
    camera_matrix : ndarray, shape (3, 3), float64
        ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``, camera px.
    dist_coeffs : ndarray, float64
        OpenCV's coefficients: 5 (pinhole), 8 (rational) or 4 (fisheye).
    image_size : (int, int)
        (width, height) of the photos, px.
    """

    model: str
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        if self.model not in LENS_MODELS:
            raise CalibrationError(f"LensModel.model: expected one of {list(LENS_MODELS)}, got {self.model!r}")
        k = np.asarray(self.camera_matrix, dtype=np.float64)
        d = np.asarray(self.dist_coeffs, dtype=np.float64).ravel()
        if k.shape != (3, 3) or not np.all(np.isfinite(k)) or not np.all(np.isfinite(d)):
            raise CalibrationError(f"LensModel.camera_matrix: expected a finite (3, 3) array, got shape {k.shape}")
        want = {"pinhole": (4, 5), "rational": (8,), "fisheye": (4,)}[self.model]
        if d.size not in want:
            raise CalibrationError(f"LensModel.dist_coeffs: model {self.model!r} expects {want} coefficients, got {d.size}")
        object.__setattr__(self, "camera_matrix", k)
        object.__setattr__(self, "dist_coeffs", d)
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    def project(self, object_mm: np.ndarray, rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
        """Board points (N, 3) mm at pose (rvec, tvec) -> camera px (N, 2)."""
        obj = np.asarray(object_mm, dtype=np.float64).reshape(-1, 1, 3)
        if self.model == "fisheye":
            out, _ = cv2.fisheye.projectPoints(obj, np.asarray(rvec, np.float64).reshape(3, 1),
                                               np.asarray(tvec, np.float64).reshape(3, 1), self.camera_matrix, self.dist_coeffs)
        else:
            out, _ = cv2.projectPoints(obj, rvec, tvec, self.camera_matrix, self.dist_coeffs)
        return out.reshape(-1, 2)

    def undistort_points(self, pts_px: np.ndarray) -> np.ndarray:
        """Camera px (N, 2) -> undistorted px (N, 2) of the pinhole camera with the same camera matrix."""
        p = np.asarray(pts_px, dtype=np.float64).reshape(-1, 1, 2)
        k = self.camera_matrix
        if self.model == "fisheye":
            out = cv2.fisheye.undistortPoints(p, k, self.dist_coeffs, P=k, criteria=_CRIT)
        else:
            out = cv2.undistortPoints(p, k, self.dist_coeffs, R=None, P=k, criteria=_CRIT)
        return out.reshape(-1, 2)

    def undistort_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` tables: undistorted px -> camera px, float32 (H, W) each."""
        k, size = self.camera_matrix, self.image_size
        if self.model == "fisheye":
            return cv2.fisheye.initUndistortRectifyMap(k, self.dist_coeffs, np.eye(3), k, size, cv2.CV_32FC1)
        return cv2.initUndistortRectifyMap(k, self.dist_coeffs, None, k, size, cv2.CV_32FC1)

    def undistort_image(self, image: np.ndarray, *, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Resample a photo (camera px) into undistorted px (same size and camera matrix)."""
        img = np.asarray(image)
        if (img.shape[1], img.shape[0]) != self.image_size:
            raise CalibrationError(
                f"undistort_image: photo is {img.shape[1]}x{img.shape[0]} px, the lens model was fitted on "
                f"{self.image_size[0]}x{self.image_size[1]} px photos (another camera or resolution?)")
        mx, my = self.undistort_maps()
        return cv2.remap(img, mx, my, interpolation, borderMode=cv2.BORDER_CONSTANT)

    def solve_pose(self, image_px: np.ndarray, object_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Board pose (rvec, tvec) from its corners with these fixed intrinsics."""
        und = self.undistort_points(image_px)
        ok, rvec, tvec = cv2.solvePnP(np.asarray(object_mm, np.float64).reshape(-1, 1, 3), und.reshape(-1, 1, 2),
                                      self.camera_matrix, None, flags=cv2.SOLVEPNP_ITERATIVE)
        if not ok:
            raise CalibrationError("solve_pose: no board pose found")
        # refine the pose in the distorted image (Levenberg-Marquardt on the true reprojection)
        from scipy.optimize import least_squares

        def resid(p: np.ndarray) -> np.ndarray:
            return (self.project(object_mm, p[:3], p[3:]) - np.asarray(image_px).reshape(-1, 2)).ravel()

        sol = least_squares(resid, np.concatenate([rvec.ravel(), tvec.ravel()]), method="lm")
        return sol.x[:3].copy(), sol.x[3:].copy()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "camera_matrix": self.camera_matrix.tolist(),
                "dist_coeffs": self.dist_coeffs.tolist(), "image_size": list(self.image_size)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LensModel":
        try:
            return cls(model=str(d["model"]), camera_matrix=np.asarray(d["camera_matrix"], dtype=np.float64),
                       dist_coeffs=np.asarray(d["dist_coeffs"], dtype=np.float64),
                       image_size=tuple(int(v) for v in d["image_size"]))  # type: ignore[arg-type]
        except KeyError as exc:
            raise CalibrationError(f"lens model: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"lens model: invalid value ({exc})") from None


def fit_lens_model(
    image_pts: Sequence[np.ndarray], object_pts: Sequence[np.ndarray], image_size: tuple[int, int], model: str
) -> tuple[LensModel, float, list[np.ndarray], list[np.ndarray]]:
    """Fit one lens model on board views (Zhang [1]_; Kannala-Brandt [3]_ for ``"fisheye"``).

    Returns
    -------
    lens : LensModel
    rms_px : float
        RMS reprojection error over all corners, camera px (recomputed the same way for every model).
    rvecs, tvecs : list of ndarray
        Board pose per view.
    """
    if model not in LENS_MODELS:
        raise CalibrationError(f"fit_lens_model: model={model!r}; expected one of {list(LENS_MODELS)}")
    obj = [np.asarray(o, np.float64).reshape(-1, 1, 3) for o in object_pts]
    img = [np.asarray(i, np.float64).reshape(-1, 1, 2) for i in image_pts]
    try:
        if model == "fisheye":
            flags = cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
            k0 = np.zeros((3, 3))
            _rms, k, d, rv, tv = cv2.fisheye.calibrate(obj, img, image_size, k0, np.zeros(4), flags=flags, criteria=_CRIT)
        else:
            flags = cv2.CALIB_RATIONAL_MODEL if model == "rational" else 0
            obj32 = [o.astype(np.float32) for o in obj]
            img32 = [i.astype(np.float32) for i in img]
            _rms, k, d, rv, tv = cv2.calibrateCamera(obj32, img32, image_size, None, None, flags=flags, criteria=_CRIT)
            d = np.asarray(d).ravel()[: 8 if model == "rational" else 5]
    except cv2.error as exc:
        raise CalibrationError(f"fit_lens_model: OpenCV could not fit the {model} model ({str(exc).strip()[:200]})") from None
    lens = LensModel(model=model, camera_matrix=k, dist_coeffs=d, image_size=image_size)
    rvecs = [np.asarray(r, np.float64).ravel() for r in rv]
    tvecs = [np.asarray(t, np.float64).ravel() for t in tv]
    rms = reprojection_rms_px(lens, img, obj, rvecs, tvecs)
    return lens, rms, rvecs, tvecs


def _view_sq_err(lens: LensModel, ip: np.ndarray, op: np.ndarray, rv: np.ndarray, tv: np.ndarray) -> np.ndarray:
    return np.sum((lens.project(op, rv, tv) - np.asarray(ip).reshape(-1, 2)) ** 2, axis=1)


def reprojection_rms_px(lens: LensModel, image_pts: Sequence[np.ndarray], object_pts: Sequence[np.ndarray],
                        rvecs: Sequence[np.ndarray], tvecs: Sequence[np.ndarray]) -> float:
    """RMS over all corners of all views of the reprojection error, camera px."""
    sq = np.concatenate([_view_sq_err(lens, i, o, r, t) for i, o, r, t in zip(image_pts, object_pts, rvecs, tvecs)])
    return float(np.sqrt(sq.mean()))


def line_straightness_px(lens: LensModel | None, image_px: np.ndarray, ids: np.ndarray, inner: tuple[int, int]) -> np.ndarray:
    """Residuals of undistorted board rows and columns from their fitted straight lines.

    Every row and column of inner corners (at least 3 corners) is undistorted with ``lens``
    (or left as is when None), a line is fitted by total least squares and the
    perpendicular distance of each corner from it is returned, undistorted px (all lines
    of the view concatenated). A perfect lens model gives only the corner-detection noise.
    """
    cols, _rows = inner
    pts = np.asarray(image_px, np.float64).reshape(-1, 2)
    if lens is not None:
        pts = lens.undistort_points(pts)
    ids = np.asarray(ids, int)
    r, c = ids // cols, ids % cols
    out = []
    for key, lab in ((r, np.unique(r)), (c, np.unique(c))):
        for v in lab:
            sel = key == v
            if sel.sum() < 3:
                continue
            p = pts[sel]
            mu = p.mean(axis=0)
            _u, _s, vt = np.linalg.svd(p - mu)
            out.append(np.abs((p - mu) @ vt[1]))
    return np.concatenate(out) if out else np.zeros(0)


def mm_per_px_from_board(lens: LensModel | None, image_px: np.ndarray, object_mm: np.ndarray) -> tuple[float, float]:
    """Scale of the plane a board lies on: (mm per undistorted px in x, in y) at the board.

    A homography is fitted from the undistorted corners to board mm; its Jacobian at the
    board centre gives the local scale along the image x and y axes (the product lying
    where the board lay is measured at this scale).
    """
    pts = np.asarray(image_px, np.float64).reshape(-1, 2)
    if lens is not None:
        pts = lens.undistort_points(pts)
    obj = np.asarray(object_mm, np.float64)[:, :2]
    h, _ = cv2.findHomography(pts, obj, 0)
    if h is None:
        raise CalibrationError("mm_per_px_from_board: degenerate board corners")
    c = pts.mean(axis=0)
    x = np.array([c[0], c[1], 1.0])
    w = h[2] @ x
    jac = (h[:2, :2] * w - np.outer(h[:2] @ x, h[2, :2])) / w ** 2  # d(mm)/d(px)
    return float(np.linalg.norm(jac[:, 0])), float(np.linalg.norm(jac[:, 1]))


@dataclass(frozen=True, eq=False)
class GeometryCalibration:
    """Result of :func:`calibrate_geometry`.

    Attributes
    ----------
    lens : LensModel
        The chosen model, refitted on all used views.
    rms_px : float
        RMS reprojection error of the chosen model on the used views, camera px.
    held_out_rms_px : dict of str to float
        Held-out RMS reprojection error (k-fold over views) of every candidate model, camera px.
    images_used : tuple of str
    images_rejected : tuple of (str, str)
        (name, reason) per rejected image.
    straightness_px : float
        RMS residual of undistorted board rows and columns from straight lines, undistorted px.
    straightness_max_px : float
    mm_per_px : float or None
        Mean of x and y scale at the plane image's board, mm per undistorted px.
    mm_per_px_xy : (float, float) or None
    plane_image : str or None
    board : BoardSpec
    """

    lens: LensModel
    rms_px: float
    held_out_rms_px: dict[str, float]
    images_used: tuple[str, ...]
    images_rejected: tuple[tuple[str, str], ...]
    straightness_px: float
    straightness_max_px: float
    board: BoardSpec
    mm_per_px: float | None = None
    mm_per_px_xy: tuple[float, float] | None = None
    plane_image: str | None = None
    per_view_rms_px: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.lens.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.lens.model,
            "rms_px": self.rms_px,
            "held_out_rms_px": dict(self.held_out_rms_px),
            "images_used": list(self.images_used),
            "images_rejected": [{"image": n, "reason": r} for n, r in self.images_rejected],
            "straightness_px": self.straightness_px,
            "straightness_max_px": self.straightness_max_px,
            "mm_per_px": self.mm_per_px,
            "mm_per_px_xy": None if self.mm_per_px_xy is None else list(self.mm_per_px_xy),
            "plane_image": self.plane_image,
            "board": self.board.to_dict(),
            "lens": self.lens.to_dict(),
        }


def _held_out_rms(model: str, img: list[np.ndarray], obj: list[np.ndarray], size: tuple[int, int], folds: int) -> float:
    n = len(img)
    k = min(folds, n)
    sq: list[np.ndarray] = []
    for f in range(k):
        test = [i for i in range(n) if i % k == f]
        train = [i for i in range(n) if i % k != f]
        if len(train) < 3:
            return math.inf
        try:
            lens, _rms, _r, _t = fit_lens_model([img[i] for i in train], [obj[i] for i in train], size, model)
            for i in test:
                rv, tv = lens.solve_pose(img[i], obj[i])
                sq.append(_view_sq_err(lens, img[i], obj[i], rv, tv))
        except (CalibrationError, cv2.error):
            return math.inf
    e = np.concatenate(sq)
    return float(np.sqrt(e.mean())) if np.all(np.isfinite(e)) else math.inf


def calibrate_geometry(
    images: Sequence[np.ndarray],
    board: BoardSpec,
    *,
    names: Sequence[str] | None = None,
    plane_image: np.ndarray | None = None,
    plane_name: str = "plane",
    models: Sequence[str] = LENS_MODELS,
    folds: int = 5,
    min_views: int = MIN_VIEWS,
) -> GeometryCalibration:
    """Calibrate a camera from board photos; choose the lens model on held-out views.

    Parameters
    ----------
    images : sequence of ndarray, (H, W, 3) or (H, W) uint8
        Board views, all the same size, the board seen all over the field and tilted.
    board : BoardSpec
    names : sequence of str, optional, keyword-only
        Names of the images for the report (default ``"images[i]"``).
    plane_image : ndarray, optional, keyword-only
        A photo with the board lying where the product lies (the product plane); gives
        ``mm_per_px``. Without it ``mm_per_px`` is None.
    models : sequence of str, keyword-only
        Candidate lens models (:data:`LENS_MODELS`).
    folds : int, keyword-only
        Folds of the held-out (leave-views-out) scoring.
    min_views : int, keyword-only
        Fewest usable views.

    Returns
    -------
    GeometryCalibration

    Raises
    ------
    CalibrationError
        Fewer than ``min_views`` usable views (the message lists each failed image and why),
        no board in the plane image, or no candidate model could be fitted.
    """
    names = [f"images[{i}]" for i in range(len(images))] if names is None else list(names)
    if len(names) != len(images):
        raise CalibrationError(f"calibrate_geometry: {len(names)} names for {len(images)} images")
    bad = [m for m in models if m not in LENS_MODELS]
    if bad or not models:
        raise CalibrationError(f"calibrate_geometry: models={list(models)}; expected a non-empty subset of {list(LENS_MODELS)}")
    size: tuple[int, int] | None = None
    rejected: list[tuple[str, str]] = []
    det: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for name, image in zip(names, images):
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3):
            rejected.append((name, f"not a uint8 image (shape {img.shape}, {img.dtype})"))
            continue
        s = (img.shape[1], img.shape[0])
        if size is None:
            size = s
        elif s != size:
            rejected.append((name, f"size {s[0]}x{s[1]} differs from the first view's {size[0]}x{size[1]}"))
            continue
        found = detect_board(img, board)
        if found is None:
            cols, rows = board.inner_corners
            rejected.append((name, f"{board.kind} with {cols}x{rows} inner corners not found"))
            continue
        det.append((name, *found))

    def too_few(extra: str = "") -> CalibrationError:
        lines = "; ".join(f"{n}: {r}" for n, r in rejected) or "none"
        return CalibrationError(
            f"calibrate_geometry: {len(det)} usable views of {len(images)}, expected at least {min_views}{extra}. "
            f"Failed images: {lines}")

    if len(det) < min_views or size is None:
        raise too_few()
    # first fit (pinhole) to reject outlier views (mis-detections, motion blur)
    img_pts = [d[1] for d in det]
    obj_pts = [d[2] for d in det]
    lens0, _rms0, rv0, tv0 = fit_lens_model(img_pts, obj_pts, size, "rational" if "rational" in models else models[0])
    view_rms = np.array([math.sqrt(_view_sq_err(lens0, i, o, r, t).mean()) for i, o, r, t in zip(img_pts, obj_pts, rv0, tv0)])
    limit = max(OUTLIER_FACTOR * float(np.median(view_rms)), 1.0)
    keep = [k for k in range(len(det)) if view_rms[k] <= limit]
    for k in range(len(det)):
        if view_rms[k] > limit:
            rejected.append((det[k][0], f"reprojection RMS {view_rms[k]:.2f} px > {limit:.2f} px (outlier view)"))
    det = [det[k] for k in keep]
    if len(det) < min_views:
        raise too_few(" after outlier rejection")
    img_pts = [d[1] for d in det]
    obj_pts = [d[2] for d in det]
    held = {m: _held_out_rms(m, img_pts, obj_pts, size, folds) for m in models}
    best = min(held, key=lambda m: held[m])
    if not math.isfinite(held[best]):
        raise CalibrationError(f"calibrate_geometry: no lens model could be fitted on {len(det)} views ({held})")
    lens, rms, rvecs, tvecs = fit_lens_model(img_pts, obj_pts, size, best)
    per_view = {d[0]: float(math.sqrt(_view_sq_err(lens, d[1], d[2], r, t).mean())) for d, r, t in zip(det, rvecs, tvecs)}
    straight = np.concatenate([line_straightness_px(lens, d[1], d[3], board.inner_corners) for d in det])
    mm = mm_xy = None
    if plane_image is not None:
        pi = np.asarray(plane_image)
        if (pi.shape[1], pi.shape[0]) != size:
            raise CalibrationError(f"calibrate_geometry plane image {plane_name}: size {pi.shape[1]}x{pi.shape[0]}, "
                                   f"expected the views' {size[0]}x{size[1]}")
        found = detect_board(pi, board)
        if found is None:
            raise CalibrationError(f"calibrate_geometry plane image {plane_name}: board not found")
        mm_xy = mm_per_px_from_board(lens, found[0], found[1])
        mm = float(np.mean(mm_xy))
    return GeometryCalibration(
        lens=lens, rms_px=rms, held_out_rms_px=held, images_used=tuple(d[0] for d in det),
        images_rejected=tuple(rejected), straightness_px=float(np.sqrt(np.mean(straight ** 2))),
        straightness_max_px=float(straight.max()), board=board, mm_per_px=mm, mm_per_px_xy=mm_xy,
        plane_image=None if plane_image is None else plane_name, per_view_rms_px=per_view,
    )
