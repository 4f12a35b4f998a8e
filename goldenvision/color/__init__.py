"""Colour stage: CIEDE2000 per zone against the spec target and the sealed golden.

Everything here works on CIELAB D65 arrays (``float``, L* in [0, 100], a*, b* roughly in
[-128, 128]) in the **golden frame** (golden px). The stage never reads images; the Lab
images come from ``ColorCorrection.to_lab`` (``goldenvision/calibration/color.py``) after
registration. Only the colour-library and CGATS/CxF readers accept a path, as a convenience
for the layers above.

Layout
------
* :mod:`.difference`: :func:`delta_e_2000`, :func:`delta_e_2000_components`,
  :func:`delta_e_1976`, the :data:`DELTA_E` registry and :func:`delta_e` [Sharma2005]_.
* :mod:`.robust`: :func:`robust_zone_color` (Hampel-trimmed zone mean, uniformity) [Leys2013]_.
* :mod:`.zones`: :class:`ZoneColorModel` (golden-side state fitted at seal time),
  :func:`measure_zone_colors`, :func:`zone_delta_e_map`; zone pixels from
  :func:`goldenvision.zones.zone_mask` (re-exported here).
* :mod:`.adaptation`: :func:`adapt_lab` (Bradford) and :func:`target_lab_d65` [Lam1985]_.
* :mod:`.readers`: :func:`load_color_library` (CSV), :func:`read_cgats`, :func:`read_cxf` [CGATS17]_.
* :mod:`.spectral`: :class:`SpectralSample`, :func:`spectral_to_lab`, :func:`metamerism_index` [CIE15]_.

References
----------
.. [Sharma2005] G. Sharma, W. Wu, E. N. Dalal, Color Res. Appl. 30(1), 21-30 (2005), doi:10.1002/col.20070.
.. [Leys2013] C. Leys et al., J. Exp. Soc. Psychol. 49(4), 764-766 (2013), doi:10.1016/j.jesp.2013.03.013.
.. [Lam1985] K. M. Lam, "Metamerism and colour constancy", PhD thesis, Univ. of Bradford (1985).
.. [CGATS17] ANSI CGATS.17-2009.
.. [CIE15] CIE 15:2004, Colorimetry, 3rd ed.
"""

from __future__ import annotations

# ruff: noqa: F401  (private names re-exported for callers that imported them from goldenvision.color)

from ..zones import zone_mask
from .adaptation import _OBSERVERS, adapt_lab, target_lab_d65
from .difference import (
    DELTA_E,
    _as_lab,
    _ciede2000_terms,
    _check_weights,
    delta_e,
    delta_e_1976,
    delta_e_2000,
    delta_e_2000_components,
)
from .readers import load_color_library, read_cgats, read_cxf
from .robust import OUTLIER_K, SCALE_FLOOR_LAB, RobustZoneColor, _robust_color, robust_zone_color
from .spectral import MetamerismIndex, SpectralSample, metamerism_index, spectral_to_lab
from .zones import ZoneColorModel, measure_zone_colors, zone_delta_e_map

__all__ = [
    "delta_e_2000",
    "delta_e_2000_components",
    "delta_e_1976",
    "DELTA_E",
    "delta_e",
    "zone_mask",
    "robust_zone_color",
    "RobustZoneColor",
    "OUTLIER_K",
    "SCALE_FLOOR_LAB",
    "ZoneColorModel",
    "measure_zone_colors",
    "zone_delta_e_map",
    "adapt_lab",
    "target_lab_d65",
    "load_color_library",
    "SpectralSample",
    "read_cgats",
    "read_cxf",
    "spectral_to_lab",
    "MetamerismIndex",
    "metamerism_index",
]
