"""Reflectance spectra: CIELAB under an illuminant and the metamerism index of a pair.

References
----------
.. [CIE15] CIE 15:2004, Colorimetry, 3rd ed. (CIELAB §8.2.1; special metamerism index
   for a change in illuminant, with the multiplicative correction, after CIE 80 / CIE 51).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable

import numpy as np

from ..errors import SpecError
from .adaptation import _OBSERVERS
from .difference import delta_e_2000

__all__ = ["SpectralSample", "spectral_to_lab", "MetamerismIndex", "metamerism_index"]

@dataclass(frozen=True, slots=True)
class SpectralSample:
    """One measured reflectance spectrum.

    Attributes
    ----------
    sample_id : str
    name : str
    wavelengths_nm : ndarray, shape (n,), float64
        Increasing wavelengths in nm.
    reflectance : ndarray, shape (n,), float64
        Spectral reflectance factor, 0..1 (1 = perfect reflecting diffuser).
    """

    sample_id: str
    name: str
    wavelengths_nm: np.ndarray
    reflectance: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.wavelengths_nm, dtype=np.float64)
        r = np.asarray(self.reflectance, dtype=np.float64)
        if w.ndim != 1 or r.shape != w.shape or w.size < 3:
            raise SpecError(
                f"SpectralSample {self.name!r}: expected matching 1-D wavelengths and reflectance (>= 3), "
                f"got {w.shape} and {r.shape}"
            )
        if np.any(np.diff(w) <= 0):
            raise SpecError(f"SpectralSample {self.name!r}: expected increasing wavelengths, got {w.tolist()}")
        object.__setattr__(self, "wavelengths_nm", w)
        object.__setattr__(self, "reflectance", r)


_ILLUMINANT_ALIASES = {"TL84": "FL11", "F11": "FL11", "CWF": "FL2", "F2": "FL2", "F12": "FL12", "U30": "FL12"}


def _illuminant_name(name: str) -> str:
    import colour

    key = _ILLUMINANT_ALIASES.get(name.upper(), name.upper() if name.upper() in colour.SDS_ILLUMINANTS else name)
    if key not in colour.SDS_ILLUMINANTS:
        raise SpecError(f"illuminant: expected a CIE illuminant (D65, D50, A, FL11/TL84, FL2/CWF, ...), got {name!r}")
    return key


def _sample_XYZ(sample: SpectralSample, illuminant: str, observer: int) -> tuple[np.ndarray, np.ndarray]:
    """Tristimulus values (Y of the perfect diffuser = 100) of a sample and of the white."""
    import colour

    if observer not in _OBSERVERS:
        raise SpecError(f"observer: expected 2 or 10, got {observer!r}")
    if not isinstance(sample, SpectralSample):
        raise SpecError(f"sample: expected a SpectralSample, got {type(sample).__name__}")
    cmfs = colour.MSDS_CMFS[_OBSERVERS[observer]]
    illum = colour.SDS_ILLUMINANTS[_illuminant_name(illuminant)]
    sd = colour.SpectralDistribution(dict(zip(sample.wavelengths_nm, sample.reflectance)), name=sample.name)
    ones = colour.SpectralDistribution(dict(zip(sample.wavelengths_nm, np.ones_like(sample.reflectance))))
    method = "ASTM E308"
    steps = np.diff(sample.wavelengths_nm)
    if not (np.allclose(steps, steps[0]) and steps[0] in (1.0, 5.0, 10.0, 20.0)):
        method = "Integration"
        sd = sd.copy().interpolate(colour.SpectralShape(sd.shape.start, sd.shape.end, 1))
        ones = ones.copy().interpolate(colour.SpectralShape(ones.shape.start, ones.shape.end, 1))
    with warnings.catch_warnings():  # colour notes that it trims/aligns the CMFs to the data range
        warnings.simplefilter("ignore", colour.utilities.ColourRuntimeWarning)
        XYZ = np.asarray(colour.sd_to_XYZ(sd, cmfs, illum, method=method), dtype=np.float64)
        XYZ_n = np.asarray(colour.sd_to_XYZ(ones, cmfs, illum, method=method), dtype=np.float64)
    return XYZ, XYZ_n


def spectral_to_lab(sample: SpectralSample, illuminant: str = "D65", observer: int = 10) -> np.ndarray:
    """CIELAB of a reflectance spectrum under an illuminant and observer [CIE15]_.

    Parameters
    ----------
    sample : SpectralSample
        Reflectance factor 0..1.
    illuminant : str, optional
        CIE illuminant name ("D65", "D50", "A", "FL11" or its alias "TL84", "FL2"/"CWF", ...).
    observer : {2, 10}, optional

    Returns
    -------
    ndarray, shape (3,), float64
        CIELAB relative to the perfect reflecting diffuser under the same illuminant (the
        white is integrated with the same weights, so a flat 1.0 spectrum gives L* = 100,
        a* = b* = 0). Tristimulus by ``colour.sd_to_XYZ`` (ASTM E308 tables for 1/5/10/20 nm
        data spanning the visible, else 1 nm integration).
    """
    import colour

    XYZ, XYZ_n = _sample_XYZ(sample, illuminant, observer)
    return np.asarray(colour.XYZ_to_Lab(XYZ / XYZ_n[1], colour.XYZ_to_xy(XYZ_n)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MetamerismIndex:
    """Metamerism of a pair for one change of illuminant (reference -> test).

    Attributes
    ----------
    illuminant : str
        Test illuminant (CIE name, e.g. "FL11" for TL84, "A").
    delta_e00_adapted : float
        ΔE00 of the pair under the test illuminant, each colour carried to the reference white
        by Bradford (what an observer adapted to the test light sees, on the D65 scale).
    delta_e00_cie : float
        CIE special metamerism index for a change in illuminant [CIE15]_: ΔE00 in CIELAB of the
        test illuminant after the multiplicative correction ``X'_2 = X_2 (X_1 / X_2)_ref``
        (per tristimulus), which removes the pair's mismatch under the reference illuminant.
    delta_e00_reference : float
        ΔE00 of the pair under the reference illuminant (0 for a perfect match).
    """

    illuminant: str
    delta_e00_adapted: float
    delta_e00_cie: float
    delta_e00_reference: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "illuminant": self.illuminant,
            "delta_e00_adapted": self.delta_e00_adapted,
            "delta_e00_cie": self.delta_e00_cie,
            "delta_e00_reference": self.delta_e00_reference,
        }


def metamerism_index(
    sample_spectrum: SpectralSample,
    reference_spectrum: SpectralSample,
    *,
    reference_illuminant: str = "D65",
    test_illuminants: Iterable[str] = ("FL11", "A"),
    observer: int = 10,
) -> tuple[MetamerismIndex, ...]:
    """How much a sample and a reference part company when the light changes.

    Parameters
    ----------
    sample_spectrum, reference_spectrum : SpectralSample
        Reflectance spectra of the unit (sample) and of the standard (reference).
    reference_illuminant : str, optional
        Illuminant under which the pair is judged a match (D65, ISO 3664 viewing daylight D50
        also common).
    test_illuminants : iterable of str, optional
        CIE names; "FL11" is the TL84 store light, "A" incandescent, "FL2" CWF.
    observer : {2, 10}, optional

    Returns
    -------
    tuple of MetamerismIndex
        One per test illuminant, in order.
    """
    import colour

    XYZ_s_r, XYZ_n_r = _sample_XYZ(sample_spectrum, reference_illuminant, observer)
    XYZ_f_r, _ = _sample_XYZ(reference_spectrum, reference_illuminant, observer)
    white_r = colour.XYZ_to_xy(XYZ_n_r)
    lab_s_r = colour.XYZ_to_Lab(XYZ_s_r / XYZ_n_r[1], white_r)
    lab_f_r = colour.XYZ_to_Lab(XYZ_f_r / XYZ_n_r[1], white_r)
    de_ref = float(delta_e_2000(lab_s_r, lab_f_r))
    out = []
    for name in test_illuminants:
        XYZ_s_t, XYZ_n_t = _sample_XYZ(sample_spectrum, name, observer)
        XYZ_f_t, _ = _sample_XYZ(reference_spectrum, name, observer)
        # (a) adapted: carry both to the reference white with Bradford, Lab on that white.
        kw = dict(method="Von Kries", transform="Bradford")
        ad_s = colour.adaptation.chromatic_adaptation(XYZ_s_t / XYZ_n_t[1], XYZ_n_t / XYZ_n_t[1], XYZ_n_r / XYZ_n_r[1], **kw)
        ad_f = colour.adaptation.chromatic_adaptation(XYZ_f_t / XYZ_n_t[1], XYZ_n_t / XYZ_n_t[1], XYZ_n_r / XYZ_n_r[1], **kw)
        de_ad = float(delta_e_2000(colour.XYZ_to_Lab(ad_s, white_r), colour.XYZ_to_Lab(ad_f, white_r)))
        # (b) CIE special metamerism index with multiplicative correction, Lab on the test white.
        corr = XYZ_s_t * (XYZ_f_r / XYZ_s_r)
        white_t = colour.XYZ_to_xy(XYZ_n_t)
        de_cie = float(
            delta_e_2000(colour.XYZ_to_Lab(corr / XYZ_n_t[1], white_t), colour.XYZ_to_Lab(XYZ_f_t / XYZ_n_t[1], white_t))
        )
        out.append(MetamerismIndex(_illuminant_name(name), de_ad, de_cie, de_ref))
    return tuple(out)
