"""A defect found in two nested zones is reported once, in the inner zone (a missing stone is the
stones zone's, not also the pendant face's that holds them); the zone scores keep both."""

from __future__ import annotations

import numpy as np

from goldenvision.anomaly.regions import most_specific
from goldenvision.enums import DefectType, Severity
from goldenvision.results import Defect


def _mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((100, 100), bool)
    m[y0:y1, x0:x1] = True
    return m


MASKS = {"face": _mask(0, 0, 100, 100), "stones": _mask(40, 40, 60, 60), "edge": _mask(90, 0, 100, 100)}


def _d(zone: str, box: tuple[int, int, int, int], sev: Severity = Severity.major) -> Defect:
    return Defect(bbox=box, score=2.0, zone=zone, defect_type=DefectType.other, severity=sev, area_px=50)


def test_a_region_of_an_inner_zone_is_not_reported_again_by_the_outer():
    inner, outer = _d("stones", (42, 42, 52, 52)), _d("face", (41, 41, 53, 53))
    assert most_specific([outer, inner], MASKS) == [inner]


def test_elsewhere_in_the_outer_zone_or_more_severe_there_it_stays():
    inner = _d("stones", (42, 42, 52, 52))
    far = _d("face", (5, 5, 15, 15))  # another defect on the face
    critical = _d("face", (41, 41, 53, 53), Severity.critical)  # the outer zone says more
    assert most_specific([far, inner, critical], MASKS) == [far, inner, critical]


def test_the_inner_zone_is_the_one_inside_and_unknown_zones_stay():
    a, b = _d("edge", (90, 40, 99, 50)), _d("face", (89, 40, 99, 50))
    # "edge" lies inside "face": its region is the edge's; "face" does not lie inside "edge"
    assert most_specific([a, b], MASKS) == [a]
    unknown = _d("other", (89, 40, 99, 50))
    assert most_specific([a, unknown], MASKS) == [a, unknown]
