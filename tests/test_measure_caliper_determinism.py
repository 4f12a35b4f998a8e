"""A joint edge fit that swaps its edges' order is degenerate (``calipers._degenerate``).

The profile is a caliper across a zoo hand-held photo's scale marker (hardware, seed 3,
unit_012): a strong falling edge of about 185 grey levels with a noise peak of 0.85 grey levels
per px 4.3 px before it. The joint fit of the two could move the weak peak's edge past the strong
one and share the step between them (half the blur each): whether MINPACK got there turned on the
last bit of the samples, and the edge read 0.3 px apart between two runs of the same photo.
"""

from __future__ import annotations

import collections

import numpy as np

from goldenvision.measure import calipers
from goldenvision.measure.calipers import find_edges

PROFILE = np.array([
    189.953583, 189.45966, 188.838684, 187.506732, 186.376342, 187.152052, 187.996798, 189.064882, 189.461519,
    188.599872, 187.709199, 186.825312, 186.418422, 186.571188, 186.733514, 185.76683, 170.447481, 141.881733,
    112.948188, 83.643302, 57.832885, 40.728702, 24.003035, 8.331216, 3.00558, 3.039873, 3.067552, 3.085812,
    3.059036, 3.036217, 3.017355, 3.002599, 2.995783, 2.990768, 2.987552, 2.986137, 2.98636, 2.98636, 2.98636,
    2.98636, 2.98636])


def _strongest(profile: np.ndarray) -> float:
    (edge,) = find_edges(profile, sigma_px=1.0, select="strongest", spacing_px=0.25)
    return round(edge.position_px, 4)


def test_the_last_bit_of_the_samples_does_not_move_the_edge() -> None:
    rng = np.random.default_rng(0)
    seen = collections.Counter(_strongest(PROFILE * (1.0 + rng.normal(0.0, 1e-13, PROFILE.shape)))
                               for _ in range(60))
    assert len(seen) == 1, seen
    # the strong edge fitted alone: the 50 % point of the fall (samples 17-19, 0.25 px apart)
    (pos,) = seen
    assert 4.5 < pos < 4.8


def test_swapped_edges_are_degenerate() -> None:
    window = PROFILE[:39]
    # (position, contrast, sigma, rms, std of position)
    in_order = [(4.0, 90.0, 0.6, 1.0, 0.03), (5.3, 90.0, 0.6, 1.0, 0.03)]
    swapped = [(5.3, 65.0, 0.36, 1.2, 0.05), (4.4, 120.0, 0.36, 1.2, 0.03)]
    assert not calipers._degenerate(in_order, window)
    assert calipers._degenerate(swapped, window)
