"""The public entry point :func:`register`: coarse candidates (keypoints, then
Fourier-Mellin and its scale search), refinement, verification, the optional non-rigid
deformation, and the refusal with its reason when nothing verifies."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import ImageError, SpecError
from ..results import RegistrationResult
from ._base import (
    METHODS,
    _NR_F_MIN,
    _RIVAL_RHO_MARGIN,
    _as_gray,
    _as_mask,
    _corner_diff,
    _n_levels_for,
    _project_gray,
    _pyramid,
)
from .features import _features_candidate
from .fourier import _fm_candidates, _scale_search_candidates
from .model import RegistrationModel
from .nonrigid import _nonrigid_check, _NonRigid, _refine_nonrigid
from .refine import _confidence, _evaluate, _Fine, _rival
from .refusal import Refusal, RefusalCode

__all__ = ["register", "MAX_ESTIMATE_STD_PX"]

#: Largest predicted uncertainty (1-sigma worst corner, golden px) of an alignment refused for
#: that uncertainty alone that a refusal still carries as its ``estimate``. At 0.5 px the worst
#: corner is off by about 1.5 px at 3 sigma (1.4 px at the p90 of the true / predicted error
#: ratio, 2.8, measured on DeepPCB warps): the colour boxes (robust means over zones hundreds
#: of px across) and the calipers' search windows (edges found and fitted in the unit image
#: itself) do not move by a share that matters; a looser fit is barely pinned down at all and
#: could as well be a neighbouring minimum of a striped or symmetric part.
MAX_ESTIMATE_STD_PX = 0.5

def register(reference: np.ndarray, moving: np.ndarray, *, method: str = "auto",
             model: RegistrationModel | None = None, mask: np.ndarray | None = None,
             starts: Sequence[np.ndarray] = ()) -> RegistrationResult:
    """Align ``moving`` (a unit) onto ``reference`` (the golden), or refuse with a reason.

    Parameters
    ----------
    reference : ndarray, (H, W, 3) uint8 RGB or (H, W) uint8 gray
        The golden reference (golden px).
    moving : ndarray, (h, w, 3) uint8 RGB or (h, w) uint8 gray
        The unit image (unit px); any size.
    method : {"auto", "homography", "affine", "nonrigid", "outline", "none"}
        ``"auto"``/``"homography"``: projective; ``"affine"``: 6 parameters; ``"nonrigid"``:
        homography then a smooth residual flow; ``"outline"``: a coarse similarity from the
        product's silhouette on a plain ground, over the full circle of rotation
        (:mod:`.outline`; ``rms_px`` is the outlines' RMS distance, not a 0.2 px claim);
        ``"none"``: the moving image resized to the reference (the homography is that scaling,
        ``ok`` True).
    model : RegistrationModel, optional
        Precomputed reference side (from the golden package); fitted here when None.
    mask : ndarray, (H, W) bool, optional
        Where keypoints and correlation count, in reference px. Used when ``model`` is None;
        a model carries the mask it was fitted with and ``mask`` is then only shape-checked.
    starts : sequence of ndarray (3, 3), optional
        Coarse alignments (moving px -> reference px) known from elsewhere (a round product's
        body and the turn its print pins: :func:`goldenvision.registration.concentric.body_starts`),
        refined and verified like Fourier-Mellin's candidates and judged with them (rivals,
        alignments not determined by the content) when the keypoints fail.

    Returns
    -------
    RegistrationResult
        ``homography`` maps moving px -> reference px. ``rms_px`` is the predicted 1-sigma
        (RMS) position error of the worst reference corner, golden px, from the fine
        alignment's residual and Gauss-Newton covariance (see :class:`RegistrationResult`). ``ok`` False with ``reason`` (text)
        and ``refusal`` (a :class:`RefusalCode`; when several candidates were refused, the code of
        the one that got furthest) when the unit cannot be aligned; this function never raises
        for bad content.

    Raises
    ------
    ImageError
        Wrong shapes or dtypes. SpecError for an unknown method.
    """
    if method not in METHODS:
        raise SpecError(f"method={method!r}; expected one of {list(METHODS)}")
    ref_gray = _as_gray(reference, "reference")
    mov_gray = _as_gray(moving, "moving")
    mask = _as_mask(mask, ref_gray.shape)
    if method == "outline":
        from .outline import outline_register

        return outline_register(reference, moving)
    if model is None and method != "none":
        model = RegistrationModel.fit(reference, mask=mask)
    if model is not None and model.gray_weights_ is not None:  # the gray the model was fitted on
        ref_gray = _project_gray(reference, model.gray_weights_, "reference")
        mov_gray = _project_gray(moving, model.gray_weights_, "moving")
    made = functools.partial(RegistrationResult, reference_shape_hw=ref_gray.shape)  # every result names its frame
    if method == "none":
        sx = ref_gray.shape[1] / mov_gray.shape[1]
        sy = ref_gray.shape[0] / mov_gray.shape[0]
        h = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        return made(homography=h, ok=True, rms_px=0.0, inliers=0, confidence=1.0, method="none")
    if model is None:
        model = RegistrationModel.fit(ref_gray, mask=mask)
    if tuple(model.shape_hw_) != ref_gray.shape:
        raise ImageError(f"model: fitted on a reference of shape {model.shape_hw_}, got reference {ref_gray.shape}")
    affine = method == "affine"
    fail = np.eye(3)
    if model.gray_std_ < 2.0:
        return made(fail, False, math.inf, method=method, refusal=RefusalCode.BLANK,
                                  reason=f"reference is blank inside the mask (gray std {model.gray_std_:.1f})")
    if float(mov_gray.std()) < 2.0:
        return made(fail, False, math.inf, method=method, refusal=RefusalCode.BLANK,
                                  reason=f"moving image is blank (gray std {float(mov_gray.std()):.1f})")
    mpyr = _pyramid(mov_gray, _n_levels_for(mov_gray.shape))
    tried: list[Refusal] = []

    nonrigid = method == "nonrigid"

    undetermined: list[np.ndarray] = []  # alignments refused only for their predicted uncertainty
    undetermined_rho: list[float] = []  # and their edge correlations
    paths: list[dict[int, np.ndarray]] = []  # and their refinements' estimates after each level (_refine)
    path_loose: list[bool] = []  # whether each path's alignment was refused for its predicted uncertainty alone
    reached: set[int] = set()  # the paths a later start reached (stopped on its way, _refine)
    # (predicted std, H, edge correlation) of the alignments refused for their predicted uncertainty alone
    loose: list[tuple[float, np.ndarray, float]] = []

    def attempt(h0, label, pairs, known=()):
        h, fine, ncc, why = _evaluate(model, mpyr, h0, affine=affine, pairs=pairs, start_only=nonrigid, known=known)
        if why is None and nonrigid:
            nr = _refine_nonrigid(model, mpyr, np.linalg.inv(h), ref_gray)
            if nr is None:
                why = Refusal(RefusalCode.DIVERGED, "non-rigid refinement diverged or left the image")
            else:
                if not nr.f_stat > _NR_F_MIN:  # the data do not support a deformation: the homography alone
                    nr = _NonRigid(coef=np.zeros_like(nr.coef), knot_px=nr.knot_px, rho=fine.rho,
                                   inlier_frac=fine.inlier_frac, inside_frac=fine.inside_frac,
                                   std_px=fine.corner_std_px, converged=fine.converged,
                                   f_stat=nr.f_stat)
                field, ncc, why = _nonrigid_check(model, mpyr, h, nr)
                if why is None:
                    return h, (fine, nr, field), ncc
        if why is None:
            return h, fine, ncc
        tried.append(why.prefixed(label))
        if why.same_as is not None:
            reached.add(why.same_as)
        elif h is not None and why.code is RefusalCode.UNDETERMINED:
            if fine is not None and fine.path:
                paths.append(fine.path)
                path_loose.append(why.std_px is not None)
            undetermined.append(h)
            undetermined_rho.append(float(fine.rho) if fine is not None else -1.0)
            if why.std_px is not None and fine is not None:
                loose.append((why.std_px, h, float(fine.rho)))
        return None

    found = None
    n_inl = 0
    label = ""
    try:
        for kind in ("orb", "sift"):
            h0, n_inl, note, pairs, pool = _features_candidate(model, mpyr, kind, affine)
            if h0 is None:
                tried.append(Refusal(RefusalCode.NO_FEATURES, note))
                continue
            found = attempt(h0, note, pairs)
            if found is not None:
                label = f"{kind}+magsac+ic"
                rival = _rival(model, mpyr, _rigid_view(found), pool, n_inl, affine)
                if rival is not None:
                    return made(fail, False, math.inf, inliers=n_inl, method=method, reason=rival.text,
                                              refusal=rival.code)
                break
        if found is None:
            n_inl = 0
            passed = []
            from_start: list[int] = []  # ids of the passed alignments reached from ``starts``
            # a start on its way to an alignment already refused as undetermined stops there: it would
            # be refused again, or, passing, dropped below as the same alignment from another start
            for h0 in starts:
                r = attempt(np.asarray(h0, np.float64), "start", None, paths)
                if r is not None:
                    passed.append(r)
                    from_start.append(id(r))
            fm, angles = _fm_candidates(model, mpyr)
            for h0 in fm:
                r = attempt(h0, "fourier-mellin", None, paths)
                if r is not None:
                    passed.append(r)
            # Fourier-Mellin's own rotation first, the next correlation peaks' only if that fails.
            # The scale search looks for a pose the peaks missed: none is missed when two starts (the
            # keypoints' and a peak's, or two peaks') reached one alignment that passed every check
            # but its predicted precision (zoo wood hand-held: the board's grain, new on every unit,
            # leaves the sealed model 0.37 px where 0.2 is asked; the search cost 0.45 s a unit
            # and every start it made reached that alignment again; checked before each group)
            for group in (angles[:2], angles[2:]):
                if passed or not group or any(path_loose[j] for j in reached):
                    break
                for h0 in _scale_search_candidates(model, mpyr, group):
                    r = attempt(h0, "fourier-mellin scale search", None, paths)
                    if r is not None:
                        passed.append(r)
            # several starts that converge to one alignment give slightly different predicted
            # uncertainties; taking the one that happens to pass would be a multiple-testing
            # bias, so an alignment also refused as undetermined from another start is refused
            kept = [r for r in passed if all(_corner_diff(r[0], hq, model.shape_hw_) > 2.0 for hq in undetermined)]
            if len(kept) < len(passed):
                tried.append(Refusal(RefusalCode.UNDETERMINED, "fourier-mellin: the same alignment reached from "
                                     "another start is not determined by the content"))
            passed = kept
            distinct = [r for j, r in enumerate(passed)
                        if all(_corner_diff(r[0], q[0], model.shape_hw_) > 2.0 for q in passed[:j])]
            if distinct:
                # every distinct alignment that fits about as well as the best is a rival (the
                # same rule as the keypoint path's _rival); clearly worse ones are wrong ones
                best = max(distinct, key=lambda r: _rigid_view(r)[1].rho)
                rho_best = _rigid_view(best)[1].rho
                rivals = [r for r in distinct if r is not best
                          and _rigid_view(r)[1].rho >= rho_best - _RIVAL_RHO_MARGIN]
                if rivals:
                    return made(fail, False, math.inf, method=method, refusal=RefusalCode.AMBIGUOUS, reason=(
                        f"ambiguous: {len(rivals) + 1} distinct alignments fit about as well (edge correlation "
                        f"{rho_best:.3f} and {max(_rigid_view(r)[1].rho for r in rivals):.3f}; symmetric or "
                        "repetitive part, e.g. one that fits as well turned by 180 degrees: mark an asymmetric "
                        "feature, or mask the repeating part out of the registration)"))
                # an alignment refused only as undetermined that fits about as well or better:
                # the content does not single out the one that passed (a chain or stripes whose
                # best fit slides along them), so the passed one is no safer than a guess
                better = [q for q, rq in zip(undetermined, undetermined_rho)
                          if rq >= rho_best - _RIVAL_RHO_MARGIN and _corner_diff(best[0], q, model.shape_hw_) > 2.0]
                if better:
                    return made(fail, False, math.inf, method=method, refusal=RefusalCode.UNDETERMINED, reason=(
                        f"alignment not determined by the content: the best fit (edge correlation "
                        f"{max(undetermined_rho):.3f}) is not pinned down and the alignment that passed fits worse "
                        f"({rho_best:.3f}); repetitive or striped part: mark an asymmetric feature, or mask the "
                        "repeating part out of the registration"))
                found = best
                label = "start+ic" if id(best) in from_start else "fourier-mellin+ic"
    except (np.linalg.LinAlgError, cv2.error, FloatingPointError) as exc:  # numerical breakdown on bad content
        return made(fail, False, math.inf, method=method, refusal=RefusalCode.NUMERICAL,
                                  reason=f"numerical failure: {exc}")
    if found is None:
        code = max((r.code for r in tried), key=lambda c: c.rank, default=RefusalCode.NO_FEATURES)
        est, est_std = _loose_estimate(loose, undetermined, undetermined_rho, model.shape_hw_)
        return made(fail, False, math.inf, method=method, refusal=code,
                    reason="cannot align: " + _join_counted([r.text for r in tried]),
                    estimate=est, estimate_std_px=est_std)
    h, fine, ncc = found
    if nonrigid:
        fine, nr, flow = fine
        # the deformed fit's correlation and uncertainty stand for the rigid ones
        fine = _Fine(g=fine.g, rho=nr.rho, corner_std_px=nr.std_px, converged=nr.converged, n_valid=fine.n_valid,
                     inlier_frac=nr.inlier_frac, inside_frac=nr.inside_frac)
        return made(homography=h, ok=True, rms_px=float(nr.std_px), inliers=int(n_inl),
                                  confidence=_confidence(fine, ncc, n_inl), method=label + "+bspline", reason=None,
                                  flow=flow)
    return made(homography=h, ok=True, rms_px=float(fine.corner_std_px), inliers=int(n_inl),
                              confidence=_confidence(fine, ncc, n_inl), method=label, reason=None,
                              note=fine.note)


def _loose_estimate(loose: list[tuple[float, np.ndarray, float]], undetermined: list[np.ndarray],
                    undetermined_rho: list[float], shape_hw: tuple[int, int]
                    ) -> tuple[np.ndarray | None, float | None]:
    """(H, its predicted std) of the best alignment refused for its predicted uncertainty alone,
    or (None, None).

    The one of least predicted uncertainty among ``loose`` (std <= :data:`MAX_ESTIMATE_STD_PX`);
    none when any alignment refused as undetermined (``undetermined``, with its edge correlation
    ``undetermined_rho``: also those the basin check refused) lies more than 2 px (worst corner)
    from it and fits about as well (within ``_RIVAL_RHO_MARGIN`` of its correlation, or
    better): the content does not single it out (a striped part that slides, a symmetric one)."""
    ok = [c for c in loose if c[0] <= MAX_ESTIMATE_STD_PX]
    if not ok:
        return None, None
    std, h, rho = min(ok, key=lambda c: c[0])
    for hq, rq in zip(undetermined, undetermined_rho, strict=True):
        if rq >= rho - _RIVAL_RHO_MARGIN and _corner_diff(h, hq, shape_hw) > 2.0:
            return None, None
    return np.array(h, np.float64), float(std)


def _join_counted(items: list[str]) -> str:
    """Join reasons with "; ", identical ones once with a count (first-seen order)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it] = counts.get(it, 0) + 1
    return "; ".join(k if n == 1 else f"{k} (x{n})" for k, n in counts.items())


def _rigid_view(found):
    """(H, rigid fine result, ncc) of an accepted candidate (non-rigid ones carry a tuple)."""
    h, fine, ncc = found
    return (h, fine[0] if isinstance(fine, tuple) else fine, ncc)
