"""Coarse alignment from keypoints: ORB or SIFT, Lowe's ratio test and MAGSAC++.

ORB: Rublee et al. 2011, doi:10.1109/ICCV.2011.6126544; ratio test: Lowe 2004,
doi:10.1023/B:VISI.0000029664.99615.94; MAGSAC++ (``cv2.USAC_MAGSAC``): Barath et al. 2020,
doi:10.1109/CVPR42600.2020.00138.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ._base import (
    _FEATURE_THR_PX,
    _MIN_INLIERS,
    _ORB_FEATURES,
    _ORB_FEATURES_UNIT,
    _RATIO,
    _SIFT_FEATURES,
    _level_for_side,
    _sanity,
    _scale_mat,
)

if TYPE_CHECKING:
    from .model import RegistrationModel

def _detect(img: np.ndarray, mask: np.ndarray | None, kind: str, n_orb: int = _ORB_FEATURES) -> dict[str, np.ndarray]:
    m = None if mask is None else (mask.astype(np.uint8) * 255)
    if kind == "orb":
        # cv2.ORB_create / SIFT_create exist at runtime; the stubs only declare cv2.ORB.create / cv2.SIFT.create
        det = cv2.ORB_create(nfeatures=n_orb, fastThreshold=10, scaleFactor=1.2, nlevels=8)  # type: ignore[attr-defined]
    else:
        det = cv2.SIFT_create(nfeatures=_SIFT_FEATURES)  # type: ignore[attr-defined]
    kps, desc = det.detectAndCompute(img, m)
    if desc is None or len(kps) == 0:
        dt = np.uint8 if kind == "orb" else np.float32
        return {"pts": np.zeros((0, 2), np.float32), "desc": np.zeros((0, 32 if kind == "orb" else 128), dt)}
    return {"pts": np.array([k.pt for k in kps], np.float32), "desc": desc}



def _match(ref: dict[str, np.ndarray], mov: dict[str, np.ndarray], kind: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratio-test matches (ref pts, mov pts) and the pool of all first and second neighbours.

    All arrays are (N, 2) float32 working-level px. The pool feeds the ambiguity test: a
    symmetric or repetitive part shows a second consistent set among the second neighbours.
    """
    empty = np.zeros((0, 2), np.float32)
    if len(ref["desc"]) < 2 or len(mov["desc"]) < 2:
        return empty, empty, empty, empty
    norm = cv2.NORM_HAMMING if kind == "orb" else cv2.NORM_L2
    knn = cv2.BFMatcher(norm).knnMatch(mov["desc"], ref["desc"], k=2)
    knn = [m for m in knn if len(m) == 2]
    if not knn:
        return empty, empty, empty, empty
    pairs = [(m[0].trainIdx, m[0].queryIdx) for m in knn if m[0].distance < _RATIO * m[1].distance]
    pool = [(mm.trainIdx, mm.queryIdx) for m in knn for mm in m if mm.distance <= 1.25 * m[0].distance]
    pi, pm = np.array(pool).T
    if not pairs:
        return empty, empty, ref["pts"][pi], mov["pts"][pm]
    ri, mi = np.array(pairs).T
    return ref["pts"][ri], mov["pts"][mi], ref["pts"][pi], mov["pts"][pm]



def _keypoint_minor_std(model: RegistrationModel, kind: str) -> float:
    """Std (working-level px) of the reference's keypoints along their minor axis (cached)."""
    key = f"_kp_minor_std_{kind}"
    v = getattr(model, key, None)
    if v is None:
        pts = (model.orb_ if kind == "orb" else model.sift_)["pts"]
        v = float(np.sqrt(max(np.linalg.eigvalsh(np.cov(pts.T.astype(np.float64)))[0], 0.0))) if len(pts) > 2 else 0.0
        object.__setattr__(model, key, v)
    return v


def _features_candidate(model: RegistrationModel, mpyr: list[np.ndarray], kind: str, affine: bool
                        ) -> tuple[np.ndarray | None, int, str, np.ndarray | None, np.ndarray | None]:
    """Feature homography (moving full px -> reference full px), inlier count, note, inlier pairs, pool.

    The inlier pairs and the pool are ``(N, 4)`` float64: reference x, y and moving x, y in full px.
    """
    wl = min(_level_for_side(mpyr[0].shape, max(model.work_mask_.shape)), len(mpyr) - 1)
    ref = model.orb_ if kind == "orb" else model.sift_
    mov = _detect(mpyr[wl], None, kind, n_orb=_ORB_FEATURES_UNIT)
    rp, mp, pool_r, pool_m = _match(ref, mov, kind)
    pool = np.c_[pool_r * 2.0**model.work_level_, pool_m * 2.0**wl].astype(np.float64)
    if len(rp) < _MIN_INLIERS:
        return None, 0, f"{kind}: {len(rp)} matches", None, pool
    thr = _FEATURE_THR_PX
    hw = None
    inl = None
    if not affine:
        hw, inl = cv2.findHomography(mp, rp, cv2.USAC_MAGSAC, thr, maxIters=5000, confidence=0.999)
        if hw is not None and _sanity(_scale_mat(model.work_level_) @ hw @ _scale_mat(-wl), model.shape_hw_):
            hw = None  # implausible perspective from a local cluster: start from an affine fit
    if hw is None:
        a, inl = cv2.estimateAffine2D(mp, rp, method=cv2.USAC_MAGSAC, ransacReprojThreshold=thr,
                                      maxIters=5000, confidence=0.999)
        hw = None if a is None else np.vstack([a, [0, 0, 1]])
    if hw is None or inl is None:
        return None, 0, f"{kind}: no robust fit from {len(rp)} matches", None, pool
    sel = inl.ravel() > 0
    n_in = int(sel.sum())
    if n_in < _MIN_INLIERS:
        return None, n_in, f"{kind}: {n_in} inliers", None, pool
    # inliers must spread over the part, not sit in one spot
    pin = rp[sel]
    ev = np.linalg.eigvalsh(np.cov(pin.T))
    spread, spread_major = float(np.sqrt(max(ev[0], 0.0))), float(np.sqrt(max(ev[-1], 0.0)))
    need = 0.03 * max(model.work_mask_.shape)
    # a long, thin product (a zipper, a strap) cannot spread its inliers across more than its
    # own width: across their minor axis they need only a third of the spread of the
    # reference's own keypoints (which lie on the product, whatever the mask)
    need_minor = min(need, 0.35 * _keypoint_minor_std(model, kind))
    if spread < need_minor or spread_major < need:
        return None, n_in, f"{kind}: inliers clustered (spread {spread:.1f} px)", None, pool
    h = _scale_mat(model.work_level_) @ hw @ _scale_mat(-wl)
    pairs = np.c_[rp[sel] * 2.0**model.work_level_, mp[sel] * 2.0**wl].astype(np.float64)
    return h / h[2, 2], n_in, f"{kind}: {n_in}/{len(rp)} inliers", pairs, pool
