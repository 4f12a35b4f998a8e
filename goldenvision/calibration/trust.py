"""Trust check of one photo: when a ColorChecker is visible, correct the photo from its own chart.

Inspector uploads from phones carry no station calibration, but often a chart beside the unit.
:func:`chart_trust_check` finds the chart (:func:`~goldenvision.calibration.chart.find_colorchecker`),
fits the photo's own camera RGB -> CIELAB D65 correction on it
(:func:`~goldenvision.calibration.characterisation.fit_characterisation`) and reports the
leave-one-out residual CIEDE2000 of the patches: how far a colour measured through this
correction may be from the truth. Above ``max_residual_de00`` the colour checks should abstain
(verdict ``review``, with the returned ``reason``) instead of judging through a bad calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import CalibrationError
from .characterisation import Candidate, ColorModel, fit_characterisation
from .chart import ChartDetection, find_colorchecker

__all__ = ["ChartCheck", "chart_trust_check", "chart_precheck", "photo_color_correction", "TRUST_CANDIDATES",
           "MAX_RESIDUAL_DE00", "NO_CHART_NOTE"]

#: Default limit on the chart's leave-one-out mean ΔE00 above which colours are not judged.
MAX_RESIDUAL_DE00 = 2.0
#: 3x3 models on sRGB-decoded input: they convert to the pipeline's ColorCorrection.
TRUST_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("Cheung 2004", 3, "ls", "srgb"),
    Candidate("Cheung 2004", 3, "lab", "srgb"),
    Candidate("Cheung 2004", 3, "lab", "srgb", 1e-3),
)


@dataclass(frozen=True, eq=False)
class ChartCheck:
    """Outcome of :func:`chart_trust_check`.

    Attributes
    ----------
    found : bool
        A ColorChecker was found in the photo.
    residual_de00 : float or None
        Mean leave-one-out CIEDE2000 of the chart's patches after the photo's own correction.
    residual_de00_max : float or None
    correction : ColorModel or None
        The photo's own camera RGB -> Lab D65 model (None when no chart).
    trusted : bool
        ``found`` and ``residual_de00 <= max_residual_de00``.
    reason : str
        Why the colours should not be judged (empty when trusted).
    detection : ChartDetection
    """

    found: bool
    residual_de00: float | None
    residual_de00_max: float | None
    correction: ColorModel | None
    trusted: bool
    reason: str
    detection: ChartDetection

    @property
    def color_correction(self) -> Any:
        """``correction`` as the pipeline's ColorCorrection (3x3, linear light), or None."""
        return None if self.correction is None else self.correction.to_color_correction()

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "residual_de00": self.residual_de00, "residual_de00_max": self.residual_de00_max,
                "trusted": self.trusted, "reason": self.reason,
                "method": None if self.correction is None else self.correction.method,
                "chart": self.detection.to_dict()}


def chart_trust_check(
    rgb: np.ndarray,
    *,
    max_residual_de00: float = MAX_RESIDUAL_DE00,
    reference_lab: np.ndarray | None = None,
    corners_px: Sequence[float] | np.ndarray | None = None,
    candidates: Sequence[Candidate] = TRUST_CANDIDATES,
    methods: Sequence[str] = ("grid",),
) -> ChartCheck:
    """Correct a photo from the ColorChecker in it and say whether its colours can be trusted.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The unit photo, camera px, as decoded.
    max_residual_de00 : float, keyword-only
        Largest accepted mean leave-one-out ΔE00 of the chart patches.
    reference_lab : ndarray, shape (24, 3), optional, keyword-only
        The chart's CIELAB D65 values (e.g. a station profile's measured chart); default
        colour-science's ColorChecker24 (after November 2014), Bradford-adapted to D65.
    corners_px : optional, keyword-only
        Manual chart corners (8 numbers, camera px).
    candidates : sequence of Candidate, keyword-only
        Models to choose from (default: 3x3 models convertible to a ColorCorrection).
    methods : sequence of str, keyword-only
        Chart searches (:func:`~goldenvision.calibration.chart.find_colorchecker`); default the
        scale-free lattice search only (about 1-3 s on 6 MP, 0.3 s on the demo's 2 MP), since
        colour-checker-detection's tiled search can take a minute on a photo without a chart.

    Returns
    -------
    ChartCheck
        Never raises for a photo without a chart or with a bad one: ``found``/``trusted``
        and ``reason`` say what happened.
    """
    if not max_residual_de00 > 0:
        raise CalibrationError(f"chart_trust_check: max_residual_de00 must be > 0, got {max_residual_de00}")
    det = find_colorchecker(rgb, corners_px=corners_px, methods=methods)
    if not det.found or det.patch_rgb01 is None:
        return ChartCheck(False, None, None, None, False, f"no colour chart in the photo: {det.reason}", det)
    try:
        model = fit_characterisation(det.patch_rgb01, lab_ref=reference_lab, candidates=candidates)
    except CalibrationError as exc:
        return ChartCheck(True, None, None, None, False, f"colour chart found but not usable: {exc}", det)
    loo = np.asarray(model.loo_de00, np.float64)
    use = np.ones(len(loo), bool)
    use[list(model.excluded)] = False
    mean = float(loo[use].mean())
    worst = float(loo[use].max())
    ok = math.isfinite(mean) and mean <= max_residual_de00
    reason = "" if ok else (f"colour chart residual ΔE00 {mean:.2f} (leave-one-out mean of {int(use.sum())} patches) "
                            f"exceeds {max_residual_de00:.2f}; colours not judged")
    return ChartCheck(True, mean, worst, model, ok, reason, det)


# ------------------------------------------------------------------ the pipeline's per-photo check

#: Long side, px, of the downscaled copy the pre-check looks at.
PRECHECK_WORK_PX = 480
#: Hue sectors (of 6) a window must hold saturated pixels of to call for the full chart search.
PRECHECK_MIN_HUES = 4
NO_CHART_NOTE = ("no chart: camera RGB assumed sRGB; colour zones of a unit are judged relative to the golden "
                 "with a light field fitted on the product (see each colour result)")


def chart_precheck(rgb: np.ndarray, *, work_px: int = PRECHECK_WORK_PX) -> bool:
    """Cheap test (a few ms on 6 MP) whether a photo may hold a ColorChecker.

    A ColorChecker holds saturated patches of every hue side by side. The photo is shrunk to
    about ``work_px`` on its long side (nearest subsampling); each of six hue sectors (HSV, saturation > 35 %) is
    box-filtered at four window sizes (1/40 to 1/6 of the long side, so charts from about
    1/15 of the frame width upwards); when any window holds at least 2 % of its pixels in
    each of :data:`PRECHECK_MIN_HUES` sectors, the full search may run. False positives
    (colourful clutter) cost only the full search's time, so the test leans to recall.
    """
    img = np.asarray(rgb)
    h, w = img.shape[:2]
    step = max(1, math.ceil(max(h, w) / work_px))  # nearest subsampling: the windows below average anyway
    small = np.ascontiguousarray(img[::step, ::step])
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL)
    sat = (hsv[..., 1] > 55) & (hsv[..., 2] > 30)
    if int(np.count_nonzero(sat)) < 12:
        return False
    sector = (hsv[..., 0].astype(np.uint16) * 6 // 256).astype(np.uint8)
    inds = [((sector == k) & sat).astype(np.float32) for k in range(6)]
    inds = [x for x in inds if np.count_nonzero(x) >= 3]
    if len(inds) < PRECHECK_MIN_HUES:
        return False
    side = max(small.shape[:2])
    for win in sorted({max(5, side // d) | 1 for d in (40, 24, 12, 6)}):
        count = np.zeros(small.shape[:2], np.uint8)
        for ind in inds:
            count += cv2.boxFilter(ind, -1, (win, win), borderType=cv2.BORDER_CONSTANT) > 0.02
        if int(count.max()) >= PRECHECK_MIN_HUES:
            return True
    return False
    sector = (hsv[..., 0].astype(np.uint16) * 6 // 256).astype(np.uint8)
    sector[~sat] = 6
    onehot = np.eye(7, dtype=np.float32)[sector][..., :6]  # (h, w, 6): pixel is a saturated pixel of hue k
    halves = (np.ascontiguousarray(onehot[..., :3]), np.ascontiguousarray(onehot[..., 3:]))
    side = max(small.shape[:2])
    for win in sorted({max(5, side // d) | 1 for d in (40, 24, 12, 6)}):
        count = sum((cv2.boxFilter(hv, -1, (win, win), borderType=cv2.BORDER_CONSTANT) > 0.02).sum(axis=2, dtype=np.uint8)
                    for hv in halves)
        if int(np.max(count)) >= PRECHECK_MIN_HUES:
            return True
    return False


def photo_color_correction(rgb: np.ndarray, *, max_residual_de00: float = MAX_RESIDUAL_DE00) -> Any:
    """The colour correction of a photo that no station chart applies to.

    A cheap :func:`chart_precheck`, then :func:`chart_trust_check` when it may hold a chart.

    Returns
    -------
    ColorCorrection
        The photo's own chart correction when a chart is found and trusted (``method``
        ``"chart: <model>"``, ``residual_de00_mean`` its leave-one-out ΔE00); otherwise
        the identity with ``note`` :data:`NO_CHART_NOTE`.

    Raises
    ------
    CalibrationError
        A chart is found but its residual is above ``max_residual_de00`` (the message says
        so and why): colours must not be judged through it.
    """
    from dataclasses import replace

    from .color import ColorCorrection

    identity = replace(ColorCorrection.identity(), note=NO_CHART_NOTE)
    if not chart_precheck(rgb):
        return identity
    check = chart_trust_check(rgb, max_residual_de00=max_residual_de00)
    if not check.found:
        return identity
    if not check.trusted or check.correction is None:
        raise CalibrationError(check.reason.removesuffix("; colours not judged"))
    cc = check.color_correction
    return replace(cc, method=f"photo {cc.method}", note=f"colour chart in the photo ({check.detection.method} search), "
                   f"residual ΔE00 {check.residual_de00:.2f} leave-one-out")
