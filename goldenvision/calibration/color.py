"""Station colour calibration: a colour chart in the rectified frame -> camera RGB to CIELAB D65.

Model. The camera's 8-bit values are taken as sRGB-encoded (IEC 61966-2-1 transfer curve);
decoding gives **linear camera RGB**. A 3x3 matrix maps linear camera RGB to **linear sRGB**
(ITU-R BT.709 primaries, D65); the sRGB primaries give CIE XYZ (2 degree observer) and CIELAB
is taken with the D65 white point (CIE 15:2004). The matrix is fitted on the chart patches
whose reference Lab (D65, 2 degree) the station profile gives.

Fitting methods (``fit_chart_correction(method=...)``):

``"cheung2004"`` (default)
    Linear least squares in linear RGB (Cheung et al. 2004, via
    :func:`colour.characterisation.matrix_colour_correction`); a few ms.
``"white-preserving"``
    The same least squares constrained so that the measured white patch maps exactly onto
    its reference (Finlayson & Drew 1996 style white-point preserving regression).
``"de2000"``
    Starts from ``"cheung2004"`` and minimises the patches' CIEDE2000 residuals directly
    (:func:`scipy.optimize.least_squares`), since least squares in linear RGB over-weights
    light patches and under-weights the dark ones that ΔE00 judges as strictly. Slower
    (0.1-1 s); for a camera whose response departs from the sRGB model it lowers the
    residuals, on an sRGB-like camera (the demo) it brings nothing measurable.

References
----------
.. [1] IEC 61966-2-1:1999, Multimedia systems and equipment - Colour measurement and
   management - Default RGB colour space - sRGB.
.. [2] V. Cheung, S. Westland, C. Li, J. Hardeberg, D. Connah, "Characterization of
   trichromatic color cameras by using a new multispectral imaging technique",
   JOSA A 22(7), 2005 / Color Res. Appl. 29(2), 2004, doi:10.1002/col.10225.
.. [3] G. D. Finlayson, M. S. Drew, "Constrained least-squares regression in color spaces",
   J. Electronic Imaging 6(4), 1997, doi:10.1117/12.278080.
.. [4] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula", Color Res.
   Appl. 30(1), 2005, doi:10.1002/col.20070.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np

from ..errors import CalibrationError, ImageError
from .profile import StationProfile

__all__ = [
    "ColorCorrection",
    "sample_chart",
    "fit_chart_correction",
    "srgb_decode",
    "srgb_encode",
    "lab_d65_to_linear_srgb",
    "linear_srgb_to_lab_d65",
    "FIT_METHODS",
]

# The constants below are colour-science's values written out to the last bit (repr of each
# float), so that importing this module does not import colour-science, which imports
# matplotlib.pyplot (~1 s); tests/test_calibration.py checks them against colour-science.
#: D65 white point, CIE 1931 2 degree xy, as used by sRGB
#: (``colour.models.RGB_COLOURSPACE_sRGB.whitepoint``).
WHITEPOINT_D65_XY = np.array([0.3127, 0.329], dtype=np.float64)
#: ``colour.xy_to_XYZ(WHITEPOINT_D65_XY)``.
WHITEPOINT_D65_XYZ = np.array([0.9504559270516716, 1.0, 1.0890577507598784], dtype=np.float64)
#: Linear sRGB -> XYZ (D65): the normalised primary matrix derived from the BT.709 primaries and
#: the D65 xy (SMPTE RP 177), not IEC 61966-2-1's 4-decimal rounding of it, so that RGB white
#: maps exactly onto the Lab white point (L* = 100, a* = b* = 0)
#: (``colour.normalised_primary_matrix(sRGB.primaries, sRGB.whitepoint)``).
M_SRGB_TO_XYZ = np.array([
    [0.41239079926595934, 0.35758433938387796, 0.1804807884018343],
    [0.2126390058715103, 0.7151686787677559, 0.07219231536073371],
    [0.019330818715591825, 0.11919477979462595, 0.9505321522496606],
], dtype=np.float64)
M_XYZ_TO_SRGB = np.linalg.inv(M_SRGB_TO_XYZ)

FIT_METHODS = ("cheung2004", "white-preserving", "de2000")

_EPS = (6.0 / 29.0) ** 3  # CIE 15:2004 Lab knee
_F_TO_LAB = np.array([[0, 116, 0, -16], [500, -500, 0, 0], [0, 200, -200, 0]], dtype=np.float32)
_KAPPA = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB EOTF: encoded values in [0, 1] -> linear (IEC 61966-2-1), float64."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    """Inverse sRGB EOTF: linear [0, 1] -> encoded [0, 1] (IEC 61966-2-1), float64, no clipping."""
    lin = np.asarray(lin, dtype=np.float64)
    a = np.abs(lin)
    enc = np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1 / 2.4) - 0.055)
    return np.sign(lin) * enc


def linear_srgb_to_lab_d65(lin: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) -> CIELAB D65 2 degree (..., 3), float64 (colour-science)."""
    import colour  # here, not at module level: colour-science imports matplotlib.pyplot (~1 s)

    xyz = np.asarray(lin, dtype=np.float64) @ M_SRGB_TO_XYZ.T
    return np.asarray(colour.XYZ_to_Lab(xyz, WHITEPOINT_D65_XY), dtype=np.float64)


def lab_d65_to_linear_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB D65 2 degree (..., 3) -> linear sRGB (..., 3), float64, unclipped (colour-science)."""
    import colour

    xyz = np.asarray(colour.Lab_to_XYZ(np.asarray(lab, dtype=np.float64), WHITEPOINT_D65_XY), dtype=np.float64)
    return xyz @ M_XYZ_TO_SRGB.T


def _delta_e00(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    import colour

    return np.asarray(colour.delta_E(lab1, lab2, method="CIE 2000"), dtype=np.float64)


#: 256-entry sRGB decode table for 8-bit codes, float64.
_LUT_DECODE = srgb_decode(np.arange(256) / 255.0)
_LUT_DECODE32 = _LUT_DECODE.astype(np.float32)


@dataclass(frozen=True, eq=False)
class ColorCorrection:
    """Camera 8-bit RGB -> CIELAB D65 through a fitted 3x3 matrix in linear light.

    Attributes
    ----------
    matrix : ndarray, shape (3, 3), float64
        Linear camera RGB (column vector) -> linear sRGB D65: ``srgb = matrix @ cam``.
    residual_de00_mean, residual_de00_max : float
        CIEDE2000 between the corrected chart patches and their references (NaN for
        :meth:`identity`, where nothing was measured).
    method : str
        ``"identity"`` or one of :data:`FIT_METHODS`.
    residual_de00 : tuple of float
        Per-patch ΔE00 of the patches used, in chart order.
    excluded : tuple of str
        Names of chart patches left out of the fit (clipped).
    note : str
        Where the correction came from, for the result (e.g. "no chart: sRGB assumed").
    """

    matrix: np.ndarray
    residual_de00_mean: float
    residual_de00_max: float
    method: str
    residual_de00: tuple[float, ...] = ()
    excluded: tuple[str, ...] = ()
    note: str = ""
    _a32: np.ndarray = field(init=False, repr=False, compare=False)

    STATE_VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (3, 3) or not np.all(np.isfinite(m)):
            raise CalibrationError(f"ColorCorrection.matrix: expected a finite (3, 3) array, got shape {m.shape}")
        object.__setattr__(self, "matrix", m)
        # XYZ / Xn = A @ lin_cam with A = diag(1/Xn) M_sRGB->XYZ @ matrix, kept transposed, float32
        a = (M_SRGB_TO_XYZ @ m) / WHITEPOINT_D65_XYZ[:, None]
        object.__setattr__(self, "_a32", np.ascontiguousarray(a, dtype=np.float32))

    @classmethod
    def identity(cls) -> "ColorCorrection":
        """The plain sRGB assumption (no chart): camera RGB is taken as sRGB."""
        return cls(matrix=np.eye(3), residual_de00_mean=math.nan, residual_de00_max=math.nan, method="identity")

    def to_linear_srgb(self, linear_camera_rgb: np.ndarray) -> np.ndarray:
        """Linear camera RGB (..., 3) float -> linear sRGB (..., 3) float64 (unclipped)."""
        return np.asarray(linear_camera_rgb, dtype=np.float64) @ self.matrix.T

    def to_lab(self, rgb: np.ndarray) -> np.ndarray:
        """Camera 8-bit RGB -> CIELAB D65 (2 degree), float32.

        Parameters
        ----------
        rgb : ndarray, shape (..., 3), uint8
            sRGB-encoded camera values, any leading shape (an image ``(H, W, 3)`` or a list
            of pixels ``(N, 3)``).

        Returns
        -------
        ndarray, shape (..., 3), float32
            ``L*`` in [0, 100] (beyond for colours outside the camera gamut), ``a*``, ``b*``.

        Notes
        -----
        sRGB decode (IEC 61966-2-1) through a 256-entry table, ``matrix``, sRGB primaries to
        XYZ, then CIE 15:2004 Lab with ``Xn`` the D65 white (``f(t) = t^(1/3)`` above
        ``(6/29)^3``, linear below).
        """
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8 or arr.ndim < 1 or arr.shape[-1] != 3:
            raise ImageError(f"to_lab rgb: expected (..., 3) uint8 sRGB-encoded values, got shape {arr.shape} of {arr.dtype}")
        lead = arr.shape[:-1]
        if arr.size == 0:
            return np.zeros(lead + (3,), np.float32)
        flat = np.ascontiguousarray(arr.reshape(-1, 1, 3))
        # OpenCV's LUT and per-pixel 3x3 transform are SIMD and avoid BLAS thread start-up
        lin = cv2.LUT(flat, _LUT_DECODE32)  # (N, 1, 3) float32 linear camera RGB
        xyz = cv2.transform(lin, self._a32)  # (N, 1, 3) XYZ / Xn
        f = np.cbrt(xyz)
        small = xyz <= _EPS
        if small.any():
            f[small] = xyz[small] * np.float32(_KAPPA) + np.float32(4.0 / 29.0)
        lab = cv2.transform(f, _F_TO_LAB)  # L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz)
        return lab.reshape(lead + (3,))

    def linear_camera_to_lab(self, linear_camera_rgb: np.ndarray) -> np.ndarray:
        """Linear camera RGB (..., 3) float -> CIELAB D65 (..., 3) float64 (exact, no table)."""
        return linear_srgb_to_lab_d65(self.to_linear_srgb(linear_camera_rgb))

    def to_state(self) -> dict[str, Any]:
        """State for the golden package (``matrix`` as ndarray, the rest JSON-able)."""
        return {
            "version": self.STATE_VERSION,
            "matrix": self.matrix.copy(),
            "residual_de00_mean": None if math.isnan(self.residual_de00_mean) else float(self.residual_de00_mean),
            "residual_de00_max": None if math.isnan(self.residual_de00_max) else float(self.residual_de00_max),
            "method": self.method,
            "residual_de00": [float(v) for v in self.residual_de00],
            "excluded": list(self.excluded),
            "note": self.note,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ColorCorrection":
        """Inverse of :meth:`to_state`; raises CalibrationError naming a missing/bad key."""
        try:
            if int(state.get("version", 1)) != cls.STATE_VERSION:
                raise CalibrationError(f"ColorCorrection state: version {state.get('version')!r}, expected {cls.STATE_VERSION}")

            def _f(k: str) -> float:
                v = state.get(k)
                return math.nan if v is None else float(v)

            return cls(
                matrix=np.asarray(state["matrix"], dtype=np.float64),
                residual_de00_mean=_f("residual_de00_mean"),
                residual_de00_max=_f("residual_de00_max"),
                method=str(state["method"]),
                residual_de00=tuple(float(v) for v in state.get("residual_de00", ())),
                excluded=tuple(str(v) for v in state.get("excluded", ())),
                note=str(state.get("note", "")),
            )
        except KeyError as exc:
            raise CalibrationError(f"ColorCorrection state: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"ColorCorrection state: invalid value ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = self.to_state()
        d["matrix"] = self.matrix.tolist()
        return d


# --------------------------------------------------------------------------- chart sampling

#: A patch with more than this fraction of pixels at 0 or 255 in any channel is clipped.
CLIP_FRACTION = 0.02
#: A patch whose 10-90 percentile spread (8-bit codes) exceeds this in any channel is non-uniform.
MAX_SPREAD_CODES = 30.0


@dataclass(frozen=True, eq=False)
class _PatchStats:
    linear: np.ndarray  # (N, 3) float64 linear camera RGB
    clipped: np.ndarray  # (N,) bool, at 0 or 255
    clipped_high: np.ndarray  # (N,) bool, at 255 only
    spread: np.ndarray  # (N,) float64, max over channels of p90 - p10, codes
    bad_names: tuple[str, ...]  # non-uniform patches


def _measure_patches(rectified_rgb: np.ndarray, profile: StationProfile, inner: float) -> _PatchStats:
    img = np.asarray(rectified_rgb)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ImageError(f"chart image: expected (H, W, 3) uint8 rectified RGB, got shape {img.shape} of {img.dtype}")
    chart = profile.chart
    if chart is None:
        raise CalibrationError(f"station profile {profile.id!r} has no colour chart")
    if not 0.05 <= inner <= 1.0:
        raise CalibrationError(f"sample_chart: inner must be in [0.05, 1], got {inner}")
    centres = profile.mm_to_px(chart.centers_mm)
    half = inner * chart.patch_mm / profile.scale_mm_per_px / 2.0
    h, w = img.shape[:2]
    n = len(chart.names)
    linear = np.empty((n, 3))
    clipped = np.zeros(n, bool)
    clipped_high = np.zeros(n, bool)
    spread = np.empty(n)
    bad: list[str] = []
    for k, (cx, cy) in enumerate(centres):
        x0, x1 = int(math.ceil(cx - half)), int(math.floor(cx + half)) + 1
        y0, y1 = int(math.ceil(cy - half)), int(math.floor(cy + half)) + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 2 or y1 - y0 < 2:
            raise CalibrationError(
                f"chart patch {k + 1} {chart.names[k]!r}: window x[{x0}:{x1}] y[{y0}:{y1}] px lies outside "
                f"the {w}x{h} image (is it the rectified frame of profile {profile.id!r}?)"
            )
        px = img[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
        high = (px >= 255).mean(axis=0)
        clipped_high[k] = bool(np.any(high > CLIP_FRACTION))
        clipped[k] = clipped_high[k] or bool(np.any((px <= 0).mean(axis=0) > CLIP_FRACTION))
        p10, p90 = np.percentile(px, [10, 90], axis=0)
        spread[k] = float(np.max(p90 - p10))
        if spread[k] > MAX_SPREAD_CODES:
            bad.append(f"{k + 1} {chart.names[k]!r} (spread {spread[k]:.0f} codes)")
        # robust location: 20 % trimmed mean of the codes (unbiased for symmetric noise and not
        # quantised like a median of integers), then the sRGB decode
        srt = np.sort(px, axis=0)
        cut = int(0.2 * len(srt))
        loc = srt[cut: len(srt) - cut].mean(axis=0)
        linear[k] = srgb_decode(loc / 255.0)
    return _PatchStats(linear=linear, clipped=clipped, clipped_high=clipped_high, spread=spread, bad_names=tuple(bad))


def sample_chart(rectified_rgb: np.ndarray, profile: StationProfile, *, inner: float = 0.6) -> np.ndarray:
    """Measure the chart patches of a rectified station frame.

    Parameters
    ----------
    rectified_rgb : ndarray, shape (H, W, 3), uint8
        The rectified station frame (``rectify(...).image``), sRGB-encoded camera values.
    profile : StationProfile
        Supplies ``chart.centers_mm``, ``chart.patch_mm`` and the mm -> rectified px mapping.
    inner : float, keyword-only
        Side of the sampled square as a fraction of the patch side (keeps away from edges).

    Returns
    -------
    ndarray, shape (N, 3), float64
        Linear camera RGB in [0, 1] per patch, chart order: 20 % trimmed mean of each
        channel's codes, sRGB-decoded.

    Raises
    ------
    CalibrationError
        No chart in the profile; a patch window off the image; a patch clipped (more than
        ``CLIP_FRACTION`` of its pixels at 255 in a channel) or non-uniform (10-90
        percentile spread over ``MAX_SPREAD_CODES``). The message names the patches.

    Notes
    -----
    Codes at 0 are not refused here: a chart rendition clipped to the sRGB gamut has a
    channel at exactly 0 (the "cyan" patch of the shipped profile), and a dark patch can
    touch 0 through noise. :func:`fit_chart_correction` leaves patches clipped at either end
    out of the fit.
    """
    st = _measure_patches(rectified_rgb, profile, inner)
    names = profile.chart.names  # type: ignore[union-attr]
    if st.bad_names:
        raise CalibrationError(f"chart patches not uniform (chart misplaced, shadowed or soiled?): {', '.join(st.bad_names)}")
    if st.clipped_high.any():
        which = [f"{k + 1} {names[k]!r}" for k in np.flatnonzero(st.clipped_high)]
        raise CalibrationError(f"chart patches clipped (over/under-exposed): {', '.join(which)}")
    return st.linear


# --------------------------------------------------------------------------- fitting


def _fit_least_squares(cam: np.ndarray, ref: np.ndarray) -> np.ndarray:
    import colour

    m = colour.characterisation.matrix_colour_correction(cam, ref, method="Cheung 2004", terms=3)
    return np.asarray(m, dtype=np.float64)


def _fit_white_preserving(cam: np.ndarray, ref: np.ndarray, white: int) -> np.ndarray:
    """Least squares ``ref ~ cam @ M.T`` subject to ``M @ cam[white] = ref[white]`` (Lagrange)."""
    xtx_inv = np.linalg.inv(cam.T @ cam)
    m_ls = np.linalg.lstsq(cam, ref, rcond=None)[0].T  # rows: output channels
    w = cam[white]
    g = xtx_inv @ w
    denom = float(w @ g)
    return m_ls - np.outer(m_ls @ w - ref[white], g) / denom


def _fit_de2000(cam: np.ndarray, lab_ref: np.ndarray, start: np.ndarray) -> np.ndarray:
    def resid(p: np.ndarray) -> np.ndarray:
        lab = linear_srgb_to_lab_d65(cam @ p.reshape(3, 3).T)
        return _delta_e00(lab, lab_ref)

    from scipy import optimize  # here, not at module level: scipy.optimize takes ~0.2 s to import

    sol = optimize.least_squares(resid, start.ravel(), method="lm", xtol=1e-10, ftol=1e-10, max_nfev=2000)
    return sol.x.reshape(3, 3)


def fit_chart_correction(
    rectified_rgb: np.ndarray, profile: StationProfile, *, method: str = "cheung2004", inner: float = 0.6,
    min_patches: int = 12,
) -> ColorCorrection:
    """Fit the camera -> linear sRGB matrix on the profile's colour chart.

    Parameters
    ----------
    rectified_rgb : ndarray, shape (H, W, 3), uint8
        Rectified station frame showing the chart.
    profile : StationProfile
        Chart layout and reference Lab (D65, 2 degree).
    method : {"cheung2004", "white-preserving", "de2000"}, keyword-only
        See the module docstring.
    inner : float, keyword-only
        Passed to the patch sampler.
    min_patches : int, keyword-only
        Fewest unclipped patches to fit on. Clipped patches (e.g. the white patch under a
        strong light) are left out and named in ``ColorCorrection.excluded``.

    Returns
    -------
    ColorCorrection
        With per-patch CIEDE2000 residuals [4]_ on the patches used.

    Raises
    ------
    CalibrationError
        Unknown method; no chart; a non-uniform patch; too few unclipped patches; a
        white-preserving fit with the white patch clipped.
    """
    if method not in FIT_METHODS:
        raise CalibrationError(f"fit_chart_correction: method={method!r}; expected one of {list(FIT_METHODS)}")
    st = _measure_patches(rectified_rgb, profile, inner)
    chart = profile.chart
    assert chart is not None
    if chart.illuminant.upper() != "D65" or int(chart.observer) != 2:
        raise CalibrationError(
            f"chart {chart.name!r}: reference Lab under {chart.illuminant}/{chart.observer} degree; expected D65/2 degree"
        )
    if st.bad_names:
        raise CalibrationError(f"chart patches not uniform (chart misplaced, shadowed or soiled?): {', '.join(st.bad_names)}")
    use = ~st.clipped
    excluded = tuple(chart.names[k] for k in np.flatnonzero(st.clipped))
    if int(use.sum()) < min_patches:
        raise CalibrationError(
            f"chart: only {int(use.sum())} of {len(chart.names)} patches unclipped, expected at least {min_patches} "
            f"(clipped: {', '.join(excluded)}); reduce exposure or light"
        )
    cam = st.linear[use]
    lab_ref = chart.lab_ref[use]
    ref = lab_d65_to_linear_srgb(lab_ref)
    if method == "white-preserving":
        white_all = int(np.argmax(chart.lab_ref[:, 0] - 0.5 * np.hypot(chart.lab_ref[:, 1], chart.lab_ref[:, 2])))
        if st.clipped[white_all]:
            raise CalibrationError(f"chart: white patch {chart.names[white_all]!r} is clipped; white-preserving fit impossible")
        m = _fit_white_preserving(cam, ref, int(np.flatnonzero(use).tolist().index(white_all)))
    else:
        m = _fit_least_squares(cam, ref)
        if method == "de2000":
            m = _fit_de2000(cam, lab_ref, m)
    if not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) < 1e-9:
        raise CalibrationError(f"chart: the {method} fit gave a singular matrix (is the chart lit and in view?)")
    de = _delta_e00(linear_srgb_to_lab_d65(cam @ m.T), lab_ref)
    return ColorCorrection(
        matrix=m,
        residual_de00_mean=float(de.mean()),
        residual_de00_max=float(de.max()),
        method=method,
        residual_de00=tuple(float(v) for v in de),
        excluded=excluded,
    )


_LINEAR_LUT_255 = (srgb_decode(np.arange(256) / 255.0) * 255.0).astype(np.float32)
_LUMA_709 = np.array([[0.2126, 0.7152, 0.0722]], dtype=np.float32)


def linear_luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance in linear light, scaled to [0, 255], float32 (H, W).

    Lens blur mixes light linearly, so an edge's half-intensity point is its true position
    only in linear values: locating edges in sRGB-encoded grey shifts them towards the
    darker side by about a tenth of the blur (IEC 61966-2-1 decoding, then Rec. 709 /
    sRGB luminance weights Y = 0.2126 R + 0.7152 G + 0.0722 B).

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        sRGB-encoded photo.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CalibrationError(f"linear_luminance: expected (H, W, 3) uint8 sRGB, got {rgb.shape} {rgb.dtype}")
    lin = cv2.LUT(rgb, _LINEAR_LUT_255)
    y = cv2.transform(lin, _LUMA_709)
    return y if y.ndim == 2 else y[..., 0]
