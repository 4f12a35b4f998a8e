"""Colour-difference formulas (CIEDE2000, CIE 1976) and a registry of them by name.

Symbols follow Sharma, Wu & Dalal 2005 so the code reads against the paper line by line;
:data:`DELTA_E` maps a method name to its function as ``colour.difference`` does.

References
----------
.. [Sharma2005] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula:
   Implementation notes, supplementary test data, and mathematical observations",
   Color Res. Appl. 30(1), 21-30 (2005), doi:10.1002/col.20070.
.. [CIE142] CIE 142:2001, Improvement to industrial colour-difference evaluation.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable

import numpy as np

from ..errors import ImageError, SpecError

__all__ = ["delta_e_2000", "delta_e_2000_components", "delta_e_1976", "DELTA_E", "delta_e"]

_25_POW_7 = 25.0**7


def _as_lab(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ImageError(f"{name}: expected CIELAB values of shape (..., 3), got shape {arr.shape}")
    return arr


def _scalar_or_array(x: np.ndarray) -> "np.ndarray | float":
    return float(x) if x.ndim == 0 else x


def _ciede2000_terms(
    lab1: np.ndarray, lab2: np.ndarray, kL: float, kC: float, kH: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIEDE2000 weighted terms of colour 2 relative to colour 1 (Sharma 2005, eqs. 1-22).

    Returns ``(ΔL'/(kL SL), ΔC'/(kC SC), ΔH'/(kH SH), RT)`` with ``Δ = 2 - 1``.
    """
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    # (2)-(7): C*, mean C*, G, a', C', h'
    C1_ab = np.hypot(a1, b1)
    C2_ab = np.hypot(a2, b2)
    C_ab_bar7 = ((C1_ab + C2_ab) / 2.0) ** 7
    G = 0.5 * (1.0 - np.sqrt(C_ab_bar7 / (C_ab_bar7 + _25_POW_7)))
    a1_p = (1.0 + G) * a1
    a2_p = (1.0 + G) * a2
    C1_p = np.hypot(a1_p, b1)
    C2_p = np.hypot(a2_p, b2)
    # h' = atan2(b, a') in [0, 360); h' = 0 when a' = b = 0 (np.arctan2(0, 0) == 0).
    h1_p = np.degrees(np.arctan2(b1, a1_p)) % 360.0
    h2_p = np.degrees(np.arctan2(b2, a2_p)) % 360.0

    # (8)-(11): ΔL', ΔC', Δh', ΔH'
    dL_p = L2 - L1
    dC_p = C2_p - C1_p
    C1C2 = C1_p * C2_p
    zero_chroma = C1C2 == 0.0
    dh = h2_p - h1_p
    dh_p = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh_p = np.where(zero_chroma, 0.0, dh_p)
    dH_p = 2.0 * np.sqrt(C1C2) * np.sin(np.radians(dh_p) / 2.0)

    # (12)-(14): means L', C', h' (h' mean: sum when C1'C2' = 0; ±360 wrap otherwise)
    L_bar_p = (L1 + L2) / 2.0
    C_bar_p = (C1_p + C2_p) / 2.0
    h_sum = h1_p + h2_p
    h_bar_p = np.where(
        np.abs(h1_p - h2_p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_bar_p = np.where(zero_chroma, h_sum, h_bar_p)

    # (15)-(21): T, Δθ, RC, SL, SC, SH, RT
    T = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar_p - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar_p))
        + 0.32 * np.cos(np.radians(3.0 * h_bar_p + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar_p - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar_p - 275.0) / 25.0) ** 2))
    C_bar_p7 = C_bar_p**7
    R_C = 2.0 * np.sqrt(C_bar_p7 / (C_bar_p7 + _25_POW_7))
    L50 = (L_bar_p - 50.0) ** 2
    S_L = 1.0 + 0.015 * L50 / np.sqrt(20.0 + L50)
    S_C = 1.0 + 0.045 * C_bar_p
    S_H = 1.0 + 0.015 * C_bar_p * T
    R_T = -np.sin(np.radians(2.0 * d_theta)) * R_C

    return dL_p / (kL * S_L), dC_p / (kC * S_C), dH_p / (kH * S_H), R_T


def _check_weights(kL: float, kC: float, kH: float) -> None:
    for nm, k in (("kL", kL), ("kC", kC), ("kH", kH)):
        if not (isinstance(k, (int, float, np.floating, np.integer)) and math.isfinite(float(k)) and k > 0):
            raise SpecError(f"{nm}: expected a finite number > 0, got {k!r}")


def delta_e_2000(lab1: Any, lab2: Any, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> "np.ndarray | float":
    """CIEDE2000 colour difference ΔE00 [CIE142]_, implemented as in Sharma et al. [Sharma2005]_.

    Parameters
    ----------
    lab1, lab2 : array_like, shape (..., 3)
        CIELAB L*, a*, b* (same white point for both; D65 in goldenvision). Any shapes that
        broadcast together; computed in float64.
    kL, kC, kH : float, optional
        Parametric weighting factors (> 0); e.g. kL = 2 for textiles.

    Returns
    -------
    float or ndarray, shape broadcast(lab1, lab2)[:-1], float64
        ΔE00; a Python float when both inputs are single colours.

    Notes
    -----
    The symbols follow eqs. (1)-(22) of [Sharma2005]_, including the implementation notes:
    h' = 0 when a' = b = 0; Δh' = 0 and mean h' = h1' + h2' when C1' C2' = 0; the mean hue
    takes the ±360° branch when ``|h1' - h2'| > 180°``. The result is symmetric in its
    arguments and matches the 34 test pairs of [Sharma2005]_ to 1e-4.
    """
    _check_weights(kL, kC, kH)
    l1 = _as_lab(lab1, "lab1")
    l2 = _as_lab(lab2, "lab2")
    dl, dc, dh, rt = _ciede2000_terms(l1, l2, float(kL), float(kC), float(kH))
    de = np.sqrt(np.maximum(dl * dl + dc * dc + dh * dh + rt * dc * dh, 0.0))
    return _scalar_or_array(de)


def delta_e_2000_components(
    lab_sample: Any, lab_reference: Any, *, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0
) -> "tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float, np.ndarray | float]":
    """ΔE00 and its signed weighted components of a sample relative to a reference.

    Parameters
    ----------
    lab_sample, lab_reference : array_like, shape (..., 3)
        CIELAB of the sample (unit) and of the reference (target or golden); broadcastable.
    kL, kC, kH : float, optional
        Parametric weighting factors (> 0).

    Returns
    -------
    dE, dL, dC, dH : float or ndarray, float64
        ``dE`` = ΔE00; ``dL = ΔL'/(kL SL)``, ``dC = ΔC'/(kC SC)``, ``dH = ΔH'/(kH SH)`` with
        ``Δ = sample - reference`` ([Sharma2005]_ eqs. 8-11, 22), so that
        ``dE**2 == dL**2 + dC**2 + dH**2 + RT*dC*dH``. ``dL < 0`` reads "darker",
        ``dC < 0`` "duller".
    """
    _check_weights(kL, kC, kH)
    ref = _as_lab(lab_reference, "lab_reference")
    smp = _as_lab(lab_sample, "lab_sample")
    dl, dc, dh, rt = _ciede2000_terms(ref, smp, float(kL), float(kC), float(kH))
    de = np.sqrt(np.maximum(dl * dl + dc * dc + dh * dh + rt * dc * dh, 0.0))
    return _scalar_or_array(de), _scalar_or_array(dl), _scalar_or_array(dc), _scalar_or_array(dh)


def delta_e_1976(lab1: Any, lab2: Any) -> "np.ndarray | float":
    """CIE 1976 colour difference ΔE*ab: Euclidean distance in CIELAB [CIE15]_.

    Parameters
    ----------
    lab1, lab2 : array_like, shape (..., 3)
        CIELAB values, broadcastable.

    Returns
    -------
    float or ndarray, float64
    """
    l1 = _as_lab(lab1, "lab1")
    l2 = _as_lab(lab2, "lab2")
    return _scalar_or_array(np.sqrt(np.sum((l1 - l2) ** 2, axis=-1)))


#: Colour-difference methods by name (each an explicit function of two Lab arrays).
DELTA_E: dict[str, Callable[[Any, Any], "np.ndarray | float"]] = {
    "cie76": delta_e_1976,
    "ciede2000": delta_e_2000,
}


def delta_e(lab_a: Any, lab_b: Any, *, method: str = "ciede2000") -> "np.ndarray | float":
    """Colour difference by method name (see :data:`DELTA_E`).

    Raises
    ------
    SpecError
        ``method`` is not a key of :data:`DELTA_E`.
    """
    fn = DELTA_E.get(method) if isinstance(method, str) else None
    if fn is None:
        raise SpecError(f"method={method!r}; expected one of {sorted(DELTA_E)}")
    return fn(lab_a, lab_b)
