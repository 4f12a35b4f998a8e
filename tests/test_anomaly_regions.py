"""How defect regions and their boxes are formed from an aggregated anomaly map (regions.find_defects)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from goldenvision.anomaly.regions import find_defects, smallest_defect_extent_px
from goldenvision.spec import AnomalyZone


def _blurred_square(shape: tuple[int, int], x0: int, y0: int, side: int, sigma: float, peak: float) -> np.ndarray:
    """A square indicator blurred by ``sigma`` px and scaled to ``peak`` (the library's aggregation)."""
    m = np.zeros(shape, np.float32)
    m[y0 : y0 + side, x0 : x0 + side] = 1.0
    b = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return (b * np.float32(peak / b.max())).astype(np.float32)


def test_extent_without_blur_is_the_area():
    assert smallest_defect_extent_px(10.0, 0.0, 0.5) == pytest.approx(100.0)
    assert smallest_defect_extent_px(0.0, 2.0, 0.5) == 0.0


@pytest.mark.parametrize("side", [9, 16, 31])
def test_extent_matches_a_rendered_blurred_square(side):
    sigma = side / 4.0
    b = _blurred_square((6 * side, 6 * side), 2 * side, 2 * side, side, sigma, 1.0)
    rendered = int((b >= 0.5).sum())
    predicted = smallest_defect_extent_px(float(side), sigma, 0.5)
    assert predicted == pytest.approx(rendered, rel=0.04)
    # the blur rounds the corners: the extent at half the threshold is below the area, about 0.88 of it
    assert 0.85 * side**2 < predicted < 0.91 * side**2


def test_extent_grows_as_the_level_falls():
    a = [smallest_defect_extent_px(12.0, 3.0, lo) for lo in (0.9, 0.7, 0.5, 0.3)]
    assert all(x < y for x, y in zip(a, a[1:]))


def test_a_smallest_defect_at_threshold_contrast_is_reported():
    """A defect exactly the spec's smallest area, whose aggregated peak just reaches the
    threshold, is reported once the rule knows the blur; the pre-blur area rule dropped it."""
    scale = 0.1  # mm / px
    side = 12  # px -> 1.44 mm²
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    sigma = side / 4.0
    m = _blurred_square((80, 80), 30, 30, side, sigma, 1.02)
    mask = np.ones(m.shape, bool)
    assert find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5) == []  # its extent is below 144 px
    out = find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma)
    assert len(out) == 1
    x1, y1, x2, y2 = out[0].bbox
    assert abs((x1 + x2) / 2 - 36) <= 1 and abs((y1 + y2) / 2 - 36) <= 1


def test_a_spot_much_smaller_than_the_smallest_defect_stays_unreported():
    """A 3-px spot strong enough to cross the threshold after aggregation is still far below
    the extent of a smallest defect: the rule still filters what the spec calls too small."""
    scale = 0.1
    side = 12
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    sigma = side / 4.0
    m = _blurred_square((80, 80), 40, 40, 3, sigma, 1.5)
    assert int((m >= 0.5).sum()) < smallest_defect_extent_px(side, sigma, 0.5)
    assert find_defects(m, np.ones(m.shape, bool), zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma) == []



def test_extent_within_a_reach_is_bounded_by_its_disc():
    side, sigma = 12.0, 3.0
    free = smallest_defect_extent_px(side, sigma, 0.5)
    assert smallest_defect_extent_px(side, sigma, 0.5, reach_px=1e3) == pytest.approx(free)
    bounded = smallest_defect_extent_px(side, sigma, 0.5, reach_px=2 * sigma)
    assert bounded == pytest.approx(min(free, math.pi * (2 * sigma) ** 2), rel=0.02)
    assert smallest_defect_extent_px(side, sigma, 0.5, reach_px=2.0) == pytest.approx(math.pi * 4.0, rel=0.02)


def _defect_beside_a_faint_edge(sigma: float) -> np.ndarray:
    """A defect (peak 3) whose aggregated evidence touches a long faint band (0.7 of the threshold)
    along a trace edge, as a slight misregistration leaves it."""
    m = _blurred_square((120, 200), 60, 40, 12, sigma, 3.0)
    band = np.zeros_like(m)
    band[52:55, 10:190] = 0.7
    return np.maximum(m, cv2.GaussianBlur(band, (0, 0), 1.0))


def test_faint_edge_evidence_does_not_stretch_the_box():
    scale, side = 0.1, 12
    sigma = side / 4.0
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    m = _defect_beside_a_faint_edge(sigma)
    mask = np.ones(m.shape, bool)
    # without the bound the 0.5 hysteresis follows the band across the frame
    (loose,) = find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5)
    assert loose.bbox[2] - loose.bbox[0] > 150
    (tight,) = find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma)
    x1, y1, x2, y2 = tight.bbox
    # the defect is 12 px wide (x 60-72) and its evidence spreads about 2 sigma = 6 px each side
    assert 52 <= x1 <= 60 and 72 <= x2 <= 80
    assert y1 <= 40 and y2 >= 52


def test_two_defects_joined_by_faint_evidence_are_two_boxes():
    scale, side = 0.1, 12
    sigma = side / 4.0
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    m = np.maximum(_blurred_square((100, 200), 30, 40, 12, sigma, 3.0), _blurred_square((100, 200), 150, 40, 12, sigma, 3.0))
    m[44:48, 30:162] = np.maximum(m[44:48, 30:162], 0.6)  # a faint bridge between them
    mask = np.ones(m.shape, bool)
    assert len(find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5)) == 1
    out = find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma)
    assert len(out) == 2
    centres = sorted((d.bbox[0] + d.bbox[2]) / 2 for d in out)
    assert centres[0] == pytest.approx(36, abs=2) and centres[1] == pytest.approx(156, abs=2)


def test_evidence_only_at_the_frame_edge_seeds_no_defect_and_the_map_agrees():
    """Within 2 sigma of the photo's frame the aggregation window lies partly outside the image
    (content cut by the frame, reflected at the border): evidence peaking only there is
    extrapolated, so it seeds no region and the map the user reads stays below 1.0 there."""
    from goldenvision.anomaly.regions import support_map

    scale, side = 0.1, 12
    sigma = side / 4.0
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    m = np.zeros((100, 160), np.float32)
    m[20:60, 0:4] = 2.5  # a strip along the left frame, inside the 6 px band
    m = cv2.GaussianBlur(m, (0, 0), 1.0)
    m[20:60, 0:4] = 2.5
    mask = np.ones(m.shape, bool)
    assert m[:, 6:].max() < 1.0 <= m.max()
    assert find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma) == []
    assert support_map(m, mask, 4 * sigma).max() < 1.0
    # without aggregation (feature zones) nothing changes: the strip is a region
    assert len(find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5)) == 1


def test_a_defect_reaching_into_the_frame_band_is_found_and_its_box_reaches_the_frame():
    from goldenvision.anomaly.regions import support_map

    scale, side = 0.1, 12
    sigma = side / 4.0
    zone = AnomalyZone(name="z", min_area_mm2=(side * scale) ** 2)
    m = _blurred_square((80, 120), 0, 30, 14, sigma, 3.0)  # cut by the left frame
    mask = np.ones(m.shape, bool)
    (d,) = find_defects(m, mask, zone, scale_mm_per_px=scale, low=0.5, blur_sigma_px=sigma)
    assert d.bbox[0] == 0 and 28 <= (d.bbox[1] + d.bbox[3]) / 2 <= 46
    sm = support_map(m, mask, 4 * sigma)
    assert sm[30:44, 0:6].min() >= 1.0  # the map reaches 1.0 where the box is
