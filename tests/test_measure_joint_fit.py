"""A joint erf fit that trades huge opposite steps against each other is refused: the weak
noise peaks beside a polished rim's strong edge are left unrefined and the rim's two real
edges are fitted together (a profile across a hand-held zoo pendant's rim, 0.25 px samples)."""

from __future__ import annotations

import numpy as np
import pytest

from goldenvision.errors import SpecError

from goldenvision.measure.calipers import find_edges

# ground ~42, the polished rim's dark line (~26) about 3.5 px wide, then the bright face (~109)
RIM = np.array([ 45.5,  45.6,  45.7,  45.9,  46. ,  45.9,  45.8,  45.7,  45.8,  45.9,  46. ,  46.1,  46.1,  46.2,
  46.2,  46.3,  46.4,  46.6,  46.6,  46.6,  46.5,  46.3,  46.2,  46.1,  45.9,  45.8,  45.6,  45.4,
  45.3,  45. ,  44.8,  44.6,  44.4,  44.2,  43.9,  43.6,  43.2,  42.7,  42.3,  42. ,  41.8,  42.1,
  42.6,  43.1,  43.6,  43.6,  43.2,  42.7,  42.2,  41.8,  41.6,  41.4,  41.3,  41.3,  41.3,  41.5,
  41.8,  42.1,  42.1,  41.7,  40.6,  38.6,  35.7,  32.3,  29.1,  26.7,  25.6,  25.6,  26.6,  28.2,
  31. ,  34.9,  39.5,  44.8,  51.3,  58.7,  67.3,  77.4,  88.1,  98.6, 107.6, 113.3, 115.5, 114.4,
 111.9, 109.6, 108.1, 107.7, 108. , 108.4, 108.4, 107.9, 107.3, 106.7, 106.8, 107.6, 108.4, 108.9,
 108.9, 108.5, 108.1, 108. , 108.1, 108.4, 108.5, 108.6, 108.7, 108.7, 108.7, 108.7, 108.8, 108.8,
 108.9, 108.9, 109. , 109. , 109. , 109. , 109. , 109.1])


def test_a_degenerate_joint_fit_is_not_reported():
    edges = find_edges(RIM, spacing_px=0.25, threshold=0.5)
    span = float(RIM.max() - RIM.min())
    for e in edges:  # no step larger than the profile's own range, no two edges on top of each other
        assert e.contrast < 2.0 * span
    pos = sorted(e.position_px for e in edges)
    assert all(b - a > 0.5 for a, b in zip(pos, pos[1:]))
    strong = sorted((e for e in edges if e.strength > 3.0), key=lambda e: e.position_px)
    assert [e.polarity for e in strong] == ["light_to_dark", "dark_to_light"]
    outer, inner = strong
    # the rim's outer edge is refined (finite uncertainty) about 3.4 px before its inner edge
    assert np.isfinite(outer.uncertainty_px) and outer.uncertainty_px < 1.0
    assert 2.8 < inner.position_px - outer.position_px < 4.2
    assert 8.0 < outer.contrast < 40.0 and 60.0 < inner.contrast < span
    # the weak noise peaks keep their unrefined place (NaN fit figures), flagged as such
    weak = [e for e in edges if e.strength < 1.0 and not np.isfinite(e.residual)]
    assert weak


def test_min_strength_returns_the_same_edges_and_skips_groups_without_one(monkeypatch):
    """``min_strength`` (a traced edge's strips): exactly the edges of a full call that pass, and a
    group of close candidates with none that strong is not fitted at all."""
    import goldenvision.measure.calipers as C

    x = np.arange(480) * 0.25
    weave = 2.0 * np.sin(2 * np.pi * x / 3.0) * (x > 80)  # a weak texture far from the edge
    prof = 40.0 + 60.0 * (x > 30) + weave + 0.3 * np.sin(7.1 * x)
    full = find_edges(prof, spacing_px=0.25)
    strong = max(e.strength for e in full)
    assert sum(e.strength < 0.5 * strong for e in full) >= 3  # the weave's edges are candidates
    calls = []
    real = C._fit_cluster

    def counted(*a, **k):
        calls.append(a[2])
        return real(*a, **k)

    monkeypatch.setattr(C, "_fit_cluster", counted)
    some = find_edges(prof, spacing_px=0.25, min_strength=0.5 * strong, polarity="dark_to_light")
    want = [e for e in full if e.strength >= 0.5 * strong and e.polarity == "dark_to_light"]
    assert [(e.position_px, e.contrast, e.uncertainty_px) for e in some] == \
        [(e.position_px, e.contrast, e.uncertainty_px) for e in want]
    assert len(some) == 1 and abs(some[0].position_px - 30.0) < 0.3
    assert all(any(abs(r) >= 0.5 * strong for _, r in peaks) for peaks in calls)  # no weave-only fit
    with pytest.raises(SpecError):
        find_edges(prof, spacing_px=0.25, min_strength=-1.0)
