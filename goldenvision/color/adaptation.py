"""Spec targets in CIELAB D65: chromatic adaptation (Bradford) of targets given under another white.

References
----------
.. [Lam1985] K. M. Lam, "Metamerism and colour constancy", PhD thesis, Univ. of Bradford
   (1985): the Bradford chromatic-adaptation transform (linearised form as in ICC.1 Annex E).
"""

from __future__ import annotations

import functools
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import SpecError
from ..spec import ColorZone
from .difference import _as_lab

__all__ = ["adapt_lab", "target_lab_d65"]

_OBSERVERS = {2: "CIE 1931 2 Degree Standard Observer", 10: "CIE 1964 10 Degree Standard Observer"}


def _whitepoint_xy(illuminant: str, observer: int) -> np.ndarray:
    import colour

    if observer not in _OBSERVERS:
        raise SpecError(f"observer: expected 2 or 10, got {observer!r}")
    table = colour.CCS_ILLUMINANTS[_OBSERVERS[observer]]
    if illuminant not in table:
        raise SpecError(f"illuminant: expected one of D65, D50, A, FL2, FL11, ..., got {illuminant!r}")
    return np.asarray(table[illuminant], dtype=np.float64)


def adapt_lab(
    lab: Any, *, source_illuminant: str, target_illuminant: str = "D65", observer: int = 10
) -> np.ndarray:
    """Carry CIELAB from one white point to another with the Bradford transform.

    Parameters
    ----------
    lab : array_like, shape (..., 3)
        CIELAB relative to ``source_illuminant``.
    source_illuminant, target_illuminant : str
        CIE illuminant names ("D50", "D65", "A", "FL11", ...).
    observer : {2, 10}
        Standard observer of the white points.

    Returns
    -------
    ndarray, shape (..., 3), float64
        CIELAB relative to ``target_illuminant``: Lab -> XYZ (source white) -> von Kries
        scaling in Bradford cone space [Lam1985]_ (``colour.adaptation.chromatic_adaptation``)
        -> Lab (target white).
    """
    import colour

    arr = _as_lab(lab, "lab")
    if source_illuminant == target_illuminant:
        return arr.copy()
    xy_s = _whitepoint_xy(source_illuminant, observer)
    xy_t = _whitepoint_xy(target_illuminant, observer)
    XYZ = colour.Lab_to_XYZ(arr, xy_s)
    XYZ_a = colour.adaptation.chromatic_adaptation(
        XYZ, colour.xy_to_XYZ(xy_s), colour.xy_to_XYZ(xy_t), method="Von Kries", transform="Bradford"
    )
    return np.asarray(colour.XYZ_to_Lab(XYZ_a, xy_t), dtype=np.float64)


def target_lab_d65(zone: ColorZone, target_labs: Mapping[str, Sequence[float]] | None = None) -> np.ndarray | None:
    """The zone's target CIELAB D65, or None when the zone has no target.

    An entry of ``target_labs`` (CIELAB D65, e.g. from :func:`load_color_library`) keyed by the
    zone's name, else by the target's name, overrides ``target.lab``; otherwise ``target.lab``
    is adapted to D65 with :func:`adapt_lab` when ``target.illuminant == "D50"``.

    Raises
    ------
    SpecError
        The target has no ``lab`` and its ``name`` is not in ``target_labs``.
    """
    t = zone.target
    if t is None:
        return None
    if target_labs is not None:
        key = zone.name if zone.name in target_labs else t.name if t.name in target_labs else None
        if key is not None:
            v = np.asarray(target_labs[key], dtype=np.float64)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise SpecError(f"target_labs[{key!r}]: expected finite (L*, a*, b*), got {target_labs[key]!r}")
            return v
    if t.lab is None:
        known = "none given" if not target_labs else f"{len(target_labs)} names"
        raise SpecError(
            f"colors[{zone.name!r}].target: name {t.name!r} not found in the colour library ({known}) and no `lab` given"
        )
    if t.illuminant == "D65":
        return np.asarray(t.lab, dtype=np.float64)
    return np.array(_adapt_to_d65_cached(tuple(float(v) for v in t.lab), t.illuminant, int(t.observer)))


@functools.lru_cache(maxsize=256)
def _adapt_to_d65_cached(lab: tuple[float, float, float], illuminant: str, observer: int) -> tuple[float, ...]:
    out = adapt_lab(np.asarray(lab), source_illuminant=illuminant, target_illuminant="D65", observer=observer)
    return tuple(float(v) for v in out)
