"""The golden's widths at sealing are read on the pair of edges nearest the nominal (the golden is
the master, its size the nominal) when the first and last edges are well off it."""

from __future__ import annotations

import numpy as np

import goldenvision as gv
from goldenvision.demo.zoo import FAMILIES
from goldenvision.demo.zoo.camera import photograph_unit
from goldenvision.demo.zoo.lot import build_zoo_spec, zoo_golden_capture


def test_every_golden_capture_reads_the_pendants_outline_not_its_rim():
    """Zoo jewellery hand-held, seed 2: the pendant's dark rim (3.5 px wide) lies inside its
    outline, and in two of the three golden photos the outline against the table fell under a
    quarter of the rim's edge: those captures read the rim, 26.53 mm of a 28.00 mm pendant, their
    mean 27.03 mm, and every unit was then read on its rim too (0/24 within the bar)."""
    fam = FAMILIES["jewellery"]
    caps = [photograph_unit(fam, zoo_golden_capture(fam, i, 2, "handheld"), 0.6) for i in range(3)]
    spec = build_zoo_spec(fam, "handheld", 0.6, seed=2)
    golden = gv.seal(caps, spec)
    values = golden.meta["golden_dimensions_mm"]["pendant_width"]["values"]
    assert len(values) == 3 and np.all(np.abs(np.asarray(values) - 28.0) < 0.2), values
