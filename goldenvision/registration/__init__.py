"""Registration: align a unit (moving) image onto the golden (reference) frame, or refuse.

Pipeline of :func:`register` (``method="auto"`` / ``"homography"`` / ``"affine"``):

1. **Coarse**: ORB keypoints (Rublee et al. 2011, doi:10.1109/ICCV.2011.6126544) on the
   working level of an image pyramid (longest side <= ``max_side_px``), Hamming 2-NN
   matching with Lowe's ratio test (Lowe 2004, doi:10.1023/B:VISI.0000029664.99615.94) and a
   robust homography by MAGSAC++ (``cv2.USAC_MAGSAC``; Barath et al. 2020,
   doi:10.1109/CVPR42600.2020.00138). If that does not verify, SIFT keypoints are tried, then
   a **Fourier-Mellin** estimate (rotation and scale from the log-polar phase correlation of
   the high-passed magnitude spectra, then the shift by phase correlation; Reddy & Chatterji
   1996, doi:10.1109/83.506761) for low-texture and repetitive parts.
2. **Fine**: inverse-compositional Gauss-Newton alignment (Baker & Matthews 2004,
   doi:10.1023/B:VISI.0000011205.11775.fd) of the homography on a coarse-to-fine pyramid, on
   the reference's high-gradient pixels, with a per-iteration photometric fit (a tone curve,
   see below; where the reference has no more than two material tones, a gain/offset, so the
   criterion is the correlation coefficient, as in ECC: Evangelidis & Psarakis 2008,
   doi:10.1109/TPAMI.2008.113) and Huber weights against occlusion. When the unit image is
   clipped (most of its pixels at >= 250 sit exactly at 255, or at <= 5 exactly at 0), two
   more nuisance unknowns join the Gauss-Newton step: a uniform shift of every edge along its
   gradient (a blurred step brightened and then clipped has its mid-level moved towards the
   dark side; traces etched thinner do the same) and its growth with the edge's obliquity to
   the unit's pixel grid (a diagonal edge is sampled wider, so it moves sqrt 2 as far); they
   cannot move the part, and the corner covariance marginalises them. The reference side
   (points, steepest-descent images, keypoints, descriptors, spectra) is precomputed once by
   :meth:`RegistrationModel.fit` and stored in the sealed golden package.
3. **Verification** (a wrong homography is never reported ``ok``): the correlation of the
   warped moving image with the reference on the edge points of the finest level and over
   the whole mask at a coarse level; the share of the reference edge points that fall inside
   the unit image (>= 40 %) and of those that the unit reproduces (>= 50 %; a part cut by the
   frame border is not an occluded one); sanity of the homography (orientation, scale range
   0.4-2.5, anisotropy, perspective terms); agreement of the coarse estimate and the
   refinement; and the alignment's own uncertainty: the Gauss-Newton covariance
   ``sigma^2 (J^T J)^-1`` propagated to the four reference corners. A part with a continuous
   symmetry (a disc, a straight bar) leaves a direction of ``J^T J`` unconstrained and is
   refused rather than aligned at random. A second, distinct hypothesis that fits about as
   well (a symmetric or repetitive part: MAGSAC again on the first and second nearest
   neighbours left over by the first model; for Fourier-Mellin, the 180-degree twin) is also
   refused. ``RegistrationResult.rms_px`` carries that predicted corner uncertainty: the 1-sigma
   (RMS) position error of the worst reference corner in golden px, refused above 0.2 px.

Hand-held photos and partial views: with a mask, the corner uncertainty is taken at the
vertices of the convex hull of the reference's edge points inside the mask (where the product
is: a round dish's bounding-box corners lie 0.41 r outside it); keypoint inliers must
spread over at least a third of the reference keypoints' own minor-axis spread (a thin part);
a zoomed view vouched for by >= ``_ZOOM_MIN_INLIERS`` keypoint inliers may show only
``_MIN_EDGE_INSIDE_ZOOM`` of the reference's edge points; and when the golden's luminance
hides the product (its colour differs from its background, not its brightness), the model
aligns both sides on the first principal axis of the golden's RGB in the mask
(``RegistrationModel.gray_weights_``). A second distinct alignment is a rival (ambiguous)
only within ``_RIVAL_RHO_MARGIN`` edge correlation of the best; an alignment refused only as
undetermined that fits better than the accepted one makes the result a refusal.

Clipping (measured with ``scripts/bench_registration.py``): on DeepPCB boards brightened x1-1.3
so the whites clip, the gain/offset model alone gave p99 1.0 px and a 1.35 px result reported
ok; with the edge-shift unknowns p99 0.17 px, max 0.21 px. On a part whose dark areas have
edges on one side only, clipping still leaves up to ~0.7 px (against 0.2-0.6 px unclipped), or
a refusal. A clipped-linear photometric model (unit = blur(min(255, a R + b)) from stored 5 x 5
reference neighbourhoods) was tried and dropped: it cannot see a gain hidden by a golden that
is itself saturated, and on a soft golden it did worse than the edge shift.
Photometric model (measured with ``scripts/bench.py`` and ``tests/test_registration_photometric.py``):
a gain/offset, or ``unit gray = f(reference gray)`` with ``f`` piecewise linear, knots at the
reference's material tones (peaks of the histogram of the coarse reference's flat pixels in
the mask, >= 3 % of them, >= 12 gray apart) and at the 1st and 99th percentiles of the edge
points' values. Both are refitted by weighted least squares every iteration; the curve is
taken when it divides the squared median |residual| (edge points whatever their weights, up
to ~3000 of them) by more than ``_TONE_MIN_GAIN`` = 2 and rises on every segment; the
steepest-descent rows are then scaled by ``f'`` and the curve's knot values are marginalised
in the corner covariance like the edge shifts. A gain/offset cannot follow a colour fault of
one material (a plating 4.5 L* darker, stones and ground unchanged): the misfit counted as
noise (sigma^2 17-22 against ~1), the predicted corner uncertainty rose to 0.23-0.27 px and
the unit was refused and put up for review instead of failing its colour check (zoo
jewellery station, ``--size 0.6``, 24 units: 21/24 verdicts right; 23/24 with the curve,
those units predicting 0.13 px against a true worst-corner error of 0.09 px). On good units
the ratio stays near 1 and the gain/offset is kept: the zoo's other rows (8 families, both
modes, 8 units) gave the same verdicts and registration errors as before; registration takes
2-7 ms more per unit. Two ways that failed: knots at quantiles of the edge values (4) bend
inside one edge's profile, so the curve mimics an edge's shift: on a binary board with edges
on one side only, a 2 px translation was reported ok (predicted 0.17 px); and the curve taken
whenever it rises: on edges that do not match (a ceramic decal shifted 1.1 mm on its body)
it flattens their segment (slope 0.28 against a gain of 0.90), discounting their
information, and a dish aligned at 0.15 px was refused at 0.23 px. A part with two tones (a
binarised board) keeps the gain/offset exactly.
4. **Non-rigid** (``method="nonrigid"``): the homography found as above (with only the
   sanity, feature-agreement, coverage and a loose correlation >= ``_MIN_RHO_START`` check:
   a bent unit does not fit a homography) is the start of a smooth deformation ``d``: a
   reference px ``p`` sits at ``H^-1 (p + d(p))`` in the unit. ``d`` is a uniform cubic
   B-spline (Rueckert et al. 1999, doi:10.1109/42.796284), ``_NR_KNOTS`` control intervals
   along the longest side, fitted by the same robust Gauss-Newton (gain/offset, Huber then
   Tukey) on the reference edge points from one level below the stored coarse level (where a
   3.5 mm stitch pitch is below Nyquist and only edges and seam lines remain) down to the
   unit's resolution, with a bending-energy penalty (zero on affine fields) and a ridge on
   control points no edge point sees. Model selection: the deformation is kept only when it
   lowers the robust edge residual of the finest level by a clear margin, an F statistic
   (residual decrease per effective spline parameter over the residual variance, ``_NR_CORR``
   edge points per independent residual) above ``_NR_F_MIN``; otherwise the field is zero and
   the homography alone stands (with the rigid checks' figures). Measured with
   ``scripts/bench_nonrigid.py`` (10 units, 1.8 mm bends): F 210-440 on bent units, 6-49 on
   flat ones, where the spline had made the seam worse (p95 0.27, max 0.65 px against the
   homography's 0.16, 0.21 px). The p-value of that F is no guide (1e-5 and below on flat
   units: residuals of rendered or photographed units are not independent noise), so the
   threshold is set between the two measured groups. Verification after the deformation: edge correlation
   >= 0.6, edge inliers and coverage, correlation over the mask with the deformation, the
   deformation's size beyond an affine map (<= ``_NR_MAX_BEND_FRAC`` of the longest side)
   and strain (|grad d| <= ``_NR_MAX_STRAIN``) near the edge points, and the predicted
   displacement uncertainty (1 sigma of ``(J^T W J + lam R)^-1`` at the edge points <=
   ``_NR_MAX_STD_PX``, reported as ``rms_px``). ``d`` is kept in ``RegistrationResult.flow``
   (see :mod:`goldenvision.transform`). Measured with ``scripts/bench_nonrigid.py``: a free
   DIS optical flow (the previous design) locked onto neighbouring stitches and followed each
   unit's grain (seam median 0.7 px on flat units, 1.1 px on bent ones).

Coordinates are ``(x, y)`` px with pixel centres at integers; the homography maps moving
(unit) px to reference (golden) px.

Layout (one module per seam): :mod:`._base` (constants, input checks, pyramids, reference
edge-point data, homography sanity), :mod:`.model` (:class:`RegistrationModel`),
:mod:`.features` (keypoints + MAGSAC++), :mod:`.fourier` (Fourier-Mellin and its scale
search), :mod:`.refine` (fine alignment and verification), :mod:`.nonrigid` (B-spline
deformation), :mod:`.align` (:func:`register`), :mod:`.warp` (:func:`warp_to_reference`).
"""

from __future__ import annotations

from ..transform import map_points_to_moving, map_points_to_reference
from ._base import METHODS, corner_error_px
from .align import register
from .model import RegistrationModel
from .refusal import Refusal, RefusalCode
from .warp import warp_to_reference

# internals that scripts/ and tests/ reach for (scripts/bench_registration.py restarts the
# refinement from the true pose; tests monkeypatch the coarse stages in .align)
from ._base import _n_levels_for, _pyramid  # noqa: F401,E402
from .fourier import _correlation_peaks, _fm_candidates, _scale_search_candidates  # noqa: F401,E402
from .features import _features_candidate  # noqa: F401,E402
from .refine import _evaluate  # noqa: F401,E402

__all__ = [
    "RegistrationModel",
    "register",
    "warp_to_reference",
    "map_points_to_moving",
    "map_points_to_reference",
    "corner_error_px",
    "METHODS",
    "RefusalCode",
    "Refusal",
]
