"""A unit photo that is not like the golden's (no colour, burnt out, far under, blurred) is not judged
where that would judge the photo instead of the product (goldenvision.photo_quality)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import goldenvision as gv
from goldenvision.photo_quality import (MAX_EXTRA_BLUR_PX, PhotoQuality, assess_photo, edge_blur_px, golden_photo)

from synthetic import panel_photo, spec_with_panel


def _steps(blur_px: float) -> np.ndarray:
    """Vertical and horizontal steps of 120 grey levels, blurred by ``blur_px`` (0: sharp)."""
    img = np.full((240, 320), 60.0, np.float32)
    for x in range(20, 300, 40):
        img[:, x:x + 20] = 180.0
    img[100:140, :] = 60.0
    return cv2.GaussianBlur(img, (0, 0), blur_px) if blur_px > 0 else img


@pytest.mark.parametrize("blur", [1.0, 2.0, 3.0, 4.0])
def test_the_edges_blur_is_read_from_two_scales(blur: float) -> None:
    sharp = _steps(0.0)
    mag = cv2.magnitude(cv2.Sobel(cv2.GaussianBlur(sharp, (0, 0), 3.0), cv2.CV_32F, 1, 0),
                        cv2.Sobel(cv2.GaussianBlur(sharp, (0, 0), 3.0), cv2.CV_32F, 0, 1))
    edges = mag >= np.percentile(mag, 95)
    read = edge_blur_px(_steps(blur), edges)
    assert read is not None and abs(read - blur) < 0.2 * blur + 0.2, (blur, read)
    assert edge_blur_px(_steps(blur), np.zeros_like(edges)) is None  # no edges: no reading


def test_extra_blur_is_the_blur_the_photo_adds() -> None:
    q = PhotoQuality(False, 0.0, 0.0, 0.0, blur_px=2.5, golden_blur_px=1.5)
    assert math.isclose(q.extra_blur_px or 0.0, 2.0)
    assert PhotoQuality(False, 0.0, 0.0, 0.0, 1.0, 1.5).extra_blur_px == 0.0
    assert PhotoQuality(False, 0.0, 0.0, 0.0, None, 1.5).extra_blur_px is None
    (what, stages, change), = PhotoQuality(False, 0.0, 0.0, 0.0, 3.0, 1.0).problems(relative_colour=True,
                                                                                      surface_blur_px=5.0)
    assert stages == ("dimensions",) and "2.8 px" in what and "focus" in change
    assert PhotoQuality(False, 0.0, 0.0, 3.0, 1.0, 1.0).problems(relative_colour=False) == []  # a station's exposure


@pytest.fixture(scope="module")
def panel_golden() -> gv.GoldenSample:
    return gv.seal([panel_photo(s) for s in (1, 2, 3)], spec_with_panel())


def test_a_photo_like_the_golden_is_judged_and_its_measures_recorded(panel_golden) -> None:
    r = gv.Inspector(panel_golden).inspect(panel_photo(9))
    assert r.verdict.value == "pass", r.reasons
    q = r.provenance["photo_quality"]
    assert q["monochrome"] is False and q["extra_blur_px"] is not None and q["extra_blur_px"] < MAX_EXTRA_BLUR_PX
    assert abs(q["exposure_stops"]) < 0.2 and q["clipped_share"] < 0.01


@pytest.mark.parametrize("change, says, not_judged", [
    (lambda im: cv2.cvtColor(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB), "no colour",
     ("colour", "surface")),
    (lambda im: cv2.GaussianBlur(im, (0, 0), 3.0), "blurred", ("surface",)),
    (lambda im: np.clip(im.astype(np.float32) * 2.5, 0, 255).astype(np.uint8), "overexposed", ("colour", "surface")),
    (lambda im: (im.astype(np.float32) * 0.15).astype(np.uint8), "stops darker", ("colour", "surface")),
])
def test_a_photo_unlike_the_golden_goes_to_review_with_what_to_change(panel_golden, change, says, not_judged) -> None:
    r = gv.Inspector(panel_golden).inspect(change(panel_photo(9)))
    assert r.verdict.value == "review", r.reasons
    (reason,) = [x for x in r.reasons if x.startswith("photo:")]
    assert says in reason and "not judged (" in reason
    if "colour" in not_judged:
        assert r.color == ()
    if "surface" in not_judged:
        assert r.anomaly_score is None


def test_a_shaken_photo_is_read_across_its_motion(panel_golden) -> None:
    """A motion blur (9 px along x) blurs the edges across it only; read over every edge it was
    diluted by the edges along it, read per orientation it is not."""
    k = np.zeros((9, 9), np.float32)
    k[4, :] = 1.0 / 9
    r = gv.Inspector(panel_golden).inspect(cv2.filter2D(panel_photo(9), -1, k))
    assert r.provenance["photo_quality"]["extra_blur_px"] > 2.0  # a 9 px box: sigma 2.6 px across
    assert r.verdict.value == "review" and any("blurred" in x for x in r.reasons)


def test_the_golden_side_reads_the_golden_itself_as_no_extra_blur() -> None:
    g = panel_photo(1)
    gp = golden_photo(g, None)
    q = assess_photo(g, np.ones(g.shape[:2], bool), gp)
    assert q.extra_blur_px == 0.0 and q.exposure_stops == 0.0 and not q.monochrome and not q.overexposed
