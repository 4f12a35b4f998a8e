"""Camera RGB -> CIE XYZ / CIELAB characterisation from a ColorChecker, method chosen by leave-one-out CIEDE2000.

Camera values are first **linearised** (``encoding``: ``"linear"`` for raw/linear cameras,
``"srgb"`` for the sRGB transfer curve of IEC 61966-2-1 that JPEG cameras and phones apply),
optionally divided by a flat field, then expanded into terms and mapped to CIE XYZ (D65,
2 degree, Y = 1 for the perfect white) by a coefficient matrix.

Term expansions (colour-science's :func:`colour.characterisation.polynomial_expansion`):
``"Cheung 2004"`` (3, 5, 7, 8, 10 ... terms) [1]_, ``"Finlayson 2015"`` root-polynomial
(degree 1-3, exposure invariant) [2]_ and ``"Vandermonde"`` (degree 1-3, with a constant).

Solvers:

``"ls"``
    Plain least squares in XYZ (colour-science's Moore-Penrose mapping): what
    :func:`colour.colour_correction` does.
``"lab"``
    Least squares of the **CIELAB** error, linearised: each patch's XYZ residual is weighted
    by the Jacobian of CIELAB with respect to XYZ at its reference (CIE 15:2004), so the
    fit minimises, to first order, the sum of squared ΔE*ab instead of squared XYZ (which
    over-weights light patches and neglects dark ones); one Gauss-Newton step re-evaluates
    the Jacobian at the prediction; a small ridge keeps higher-order terms tame. Still a
    linear solve (milliseconds), so it can be nested inside leave-one-out.

:func:`fit_characterisation` scores every candidate (expansion x solver x encoding) by
leave-one-out mean CIEDE2000 [3]_ over the chart's patches and refits the best on all
patches. Its ``loo_de00`` is the LOO error of the chosen candidate, which is optimistic by
the choice itself; :func:`nested_loo_de00` gives the honest figure (the choice is re-made
inside every fold).

References
----------
.. [1] V. Cheung, S. Westland, D. Connah, C. Ripamonti, "A comparative study of the
   characterisation of colour cameras by means of neural networks and polynomial
   transforms", Coloration Technology 120(1), 2004, doi:10.1111/j.1478-4408.2004.tb00201.x.
.. [2] G. D. Finlayson, M. Mackiewicz, A. Hurlbert, "Color correction using root-polynomial
   regression", IEEE TIP 24(5), 2015, doi:10.1109/TIP.2015.2405336.
.. [3] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula", Color Res.
   Appl. 30(1), 2005, doi:10.1002/col.20070.
.. [4] CIE 15:2004 Colorimetry, 3rd ed. (CIELAB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import cv2
import numpy as np

from ..color import delta_e_2000
from ..errors import CalibrationError, ImageError
from .color import WHITEPOINT_D65_XY, WHITEPOINT_D65_XYZ  # D65, CIE 1931 2 degree (colour-science's values)

__all__ = [
    "colorchecker_reference",
    "ColorModel",
    "Candidate",
    "CANDIDATES",
    "PLAIN_CANDIDATES",
    "fit_candidate",
    "loo_de00",
    "fit_characterisation",
    "nested_loo_de00",
    "FlatField",
    "xyz_d65_to_lab",
    "REFERENCE_CHART",
]

#: colour-science's reference for the ColorChecker Classic 24 (X-Rite, after November 2014).
REFERENCE_CHART = "ColorChecker24 - After November 2014"
_E = (6.0 / 29.0) ** 3
_K = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def colorchecker_reference(name: str = REFERENCE_CHART) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Reference values of a colour-science ColorChecker, adapted to D65.

    Returns
    -------
    names : tuple of str
        Patch names, row-major from "dark skin" to "black".
    xyz_d65 : ndarray, shape (24, 3), float64
        CIE XYZ (2 degree), Y = 1 for the perfect white; Bradford-adapted from the chart's
        D50 to D65 (von Kries).
    lab_d65 : ndarray, shape (24, 3), float64
        CIELAB with the D65 white.
    """
    import colour  # here, not at module level: colour-science imports matplotlib.pyplot (~1 s)

    try:
        cc = colour.CCS_COLOURCHECKERS[name]
    except KeyError:
        raise CalibrationError(f"colour chart {name!r}: not in colour-science's CCS_COLOURCHECKERS") from None
    xyy = np.array(list(cc.data.values()), dtype=np.float64)
    xyz = np.asarray(colour.xyY_to_XYZ(xyy), dtype=np.float64)
    xyz65 = np.asarray(colour.adaptation.chromatic_adaptation_VonKries(
        xyz, colour.xy_to_XYZ(cc.illuminant), WHITEPOINT_D65_XYZ, transform="Bradford"), dtype=np.float64)
    return tuple(cc.data.keys()), xyz65, xyz_d65_to_lab(xyz65)


def xyz_d65_to_lab(xyz: np.ndarray) -> np.ndarray:
    """CIE XYZ (..., 3), Y = 1 white -> CIELAB D65 (..., 3), float64 (CIE 15:2004)."""
    t = np.asarray(xyz, dtype=np.float64) / WHITEPOINT_D65_XYZ
    f = np.where(t > _E, np.cbrt(np.maximum(t, _E)), t * _K + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _lab_jacobian(xyz: np.ndarray) -> np.ndarray:
    """d Lab / d XYZ at each row of ``xyz`` (N, 3) -> (N, 3, 3), analytic (CIE 15:2004)."""
    t = np.asarray(xyz, np.float64) / WHITEPOINT_D65_XYZ
    df = np.where(t > _E, 1.0 / (3.0 * np.cbrt(np.maximum(t, _E)) ** 2), _K) / WHITEPOINT_D65_XYZ  # (N, 3)
    j = np.zeros((len(t), 3, 3))
    j[:, 0, 1] = 116 * df[:, 1]
    j[:, 1, 0] = 500 * df[:, 0]
    j[:, 1, 1] = -500 * df[:, 1]
    j[:, 2, 1] = 200 * df[:, 1]
    j[:, 2, 2] = -200 * df[:, 2]
    return j


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0) + 0.055) / 1.055) ** 2.4)


ENCODINGS = ("linear", "srgb")


def linearise(rgb01: np.ndarray, encoding: str) -> np.ndarray:
    """Camera values in [0, 1] -> linear camera RGB (``"linear"``: as is; ``"srgb"``: IEC 61966-2-1 decode)."""
    if encoding == "linear":
        return np.asarray(rgb01, dtype=np.float64)
    if encoding == "srgb":
        return _srgb_decode(rgb01)
    raise CalibrationError(f"encoding={encoding!r}; expected one of {list(ENCODINGS)}")


@dataclass(frozen=True)
class Candidate:
    """One characterisation recipe: term expansion, solver, camera encoding.

    Attributes
    ----------
    expansion : {"Cheung 2004", "Finlayson 2015", "Vandermonde"}
    order : int
        ``terms`` for Cheung 2004, ``degree`` otherwise.
    solver : {"ls", "lab"}
    encoding : {"linear", "srgb"}
    ridge : float
        Ridge weight (relative to the trace of the normal matrix) of the ``"lab"`` solver.
    """

    expansion: str
    order: int
    solver: str = "ls"
    encoding: str = "linear"
    ridge: float = 0.0

    @property
    def name(self) -> str:
        key = "terms" if self.expansion == "Cheung 2004" else "degree"
        s = f"{self.expansion} {key}={self.order} {self.solver}, {self.encoding} input"
        return s + (f", ridge {self.ridge:g}" if self.ridge else "")

    def expand(self, lin: np.ndarray) -> np.ndarray:
        kw = {"terms": self.order} if self.expansion == "Cheung 2004" else {"degree": self.order}
        x = np.maximum(np.asarray(lin, dtype=np.float64), 0.0) if self.expansion == "Finlayson 2015" else lin
        x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        if len(x) == 1:  # some expansions squeeze a single row; expand two and keep one
            return self.expand(np.vstack([x, x]))[:1]
        import colour

        out = np.asarray(colour.characterisation.polynomial_expansion(x, method=self.expansion, **kw), dtype=np.float64)
        return out.reshape(len(x), -1)


def _plain(encoding: str) -> list[Candidate]:
    return ([Candidate("Cheung 2004", t, "ls", encoding) for t in (3, 5, 7, 10)]
            + [Candidate("Finlayson 2015", d, "ls", encoding) for d in (1, 2, 3)]
            + [Candidate("Vandermonde", d, "ls", encoding) for d in (1, 2, 3)])


#: The plain colour-science corrections (least squares in XYZ) on the given values.
PLAIN_CANDIDATES: tuple[Candidate, ...] = tuple(_plain("linear"))
#: Every candidate :func:`fit_characterisation` chooses from.
CANDIDATES: tuple[Candidate, ...] = tuple(
    c for enc in ENCODINGS for c in (
        _plain(enc)
        + [Candidate("Cheung 2004", t, "lab", enc, r) for t in (3, 5) for r in (0.0, 1e-3)]
        + [Candidate("Finlayson 2015", d, "lab", enc, r) for d in (1, 2, 3) for r in (1e-3, 1e-2)]
        + [Candidate("Vandermonde", 1, "lab", enc, 0.0)]
    )
)


def fit_candidate(cand: Candidate, lin: np.ndarray, xyz_ref: np.ndarray) -> np.ndarray:
    """Coefficients ``C`` (P, 3) so that ``expand(lin) @ C`` approximates ``xyz_ref``.

    Parameters
    ----------
    cand : Candidate
    lin : ndarray, shape (N, 3), float64
        Linear camera RGB of the patches (after :func:`linearise`).
    xyz_ref : ndarray, shape (N, 3), float64
        Reference XYZ D65 (Y = 1 white).
    """
    f = cand.expand(lin)
    p = f.shape[1]
    if len(f) < p:
        raise CalibrationError(f"{cand.name}: {p} coefficients per channel need at least {p} patches, got {len(f)}")
    if cand.solver == "ls":
        return np.linalg.pinv(f) @ xyz_ref
    if cand.solver != "lab":
        raise CalibrationError(f"solver={cand.solver!r}; expected 'ls' or 'lab'")
    at = xyz_ref
    c = np.linalg.pinv(f) @ xyz_ref
    for _ in range(2):  # Jacobian at the reference, then at the prediction (one Gauss-Newton step)
        j = _lab_jacobian(np.maximum(at, 1e-4))
        a = np.einsum("nij,nk->nijk", j, f).reshape(-1, 3 * p)  # unknowns: C.T flattened (3, P)
        b = np.einsum("nij,nj->ni", j, xyz_ref).reshape(-1)
        ata = a.T @ a
        lam = cand.ridge * np.trace(ata) / ata.shape[0]
        c = np.linalg.solve(ata + lam * np.eye(3 * p), a.T @ b).reshape(3, p).T
        at = f @ c
    return c


def loo_de00(cand: Candidate, rgb01: np.ndarray, xyz_ref: np.ndarray, lab_ref: np.ndarray,
             *, train_mask: np.ndarray | None = None) -> np.ndarray:
    """Leave-one-out CIEDE2000 of every patch: fitted on the other patches, then predicted.

    ``train_mask`` (N,) bool excludes patches (e.g. clipped) from every fit; each patch is
    still predicted and scored. Returns (N,) float64 (inf where a fit was impossible).
    """
    lin = linearise(rgb01, cand.encoding)
    n = len(lin)
    tm = np.ones(n, bool) if train_mask is None else np.asarray(train_mask, bool)
    out = np.empty(n)
    for i in range(n):
        tr = tm.copy()
        tr[i] = False
        try:
            c = fit_candidate(cand, lin[tr], xyz_ref[tr])
        except (CalibrationError, np.linalg.LinAlgError):
            out[i] = math.inf
            continue
        pred = cand.expand(lin[i: i + 1]) @ c
        out[i] = float(delta_e_2000(xyz_d65_to_lab(pred)[0], lab_ref[i]))
    return out


@dataclass(frozen=True, eq=False)
class ColorModel:
    """A fitted camera RGB -> XYZ/Lab D65 characterisation.

    Attributes
    ----------
    candidate : Candidate
    coefficients : ndarray, shape (P, 3), float64
        ``xyz = expand(linearise(rgb / 255)) @ coefficients``.
    loo_de00 : tuple of float
        Leave-one-out CIEDE2000 per patch of the chosen candidate.
    fit_de00 : tuple of float
        CIEDE2000 per patch of the final fit on all patches.
    excluded : tuple of int
        Indices of patches left out of the fit (clipped).
    """

    candidate: Candidate
    coefficients: np.ndarray
    loo_de00: tuple[float, ...] = ()
    fit_de00: tuple[float, ...] = ()
    excluded: tuple[int, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = np.asarray(self.coefficients, dtype=np.float64)
        p = self.candidate.expand(np.full((1, 3), 0.5)).shape[1]
        if c.shape != (p, 3) or not np.all(np.isfinite(c)):
            raise CalibrationError(f"ColorModel.coefficients: {self.candidate.name} expects a finite ({p}, 3) array, got {c.shape}")
        object.__setattr__(self, "coefficients", c)

    @property
    def method(self) -> str:
        return self.candidate.name

    def rgb01_to_xyz(self, rgb01: np.ndarray) -> np.ndarray:
        """Camera values in [0, 1] (..., 3) -> XYZ D65 (..., 3) float64."""
        a = np.asarray(rgb01, dtype=np.float64)
        flat = a.reshape(-1, 3)
        xyz = self.candidate.expand(linearise(flat, self.candidate.encoding)) @ self.coefficients
        return xyz.reshape(a.shape)

    def to_lab(self, rgb: np.ndarray) -> np.ndarray:
        """Camera 8-bit RGB (..., 3) uint8 -> CIELAB D65 (..., 3) float32."""
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8 or arr.shape[-1:] != (3,):
            raise ImageError(f"ColorModel.to_lab rgb: expected (..., 3) uint8, got {arr.shape} {arr.dtype}")
        return xyz_d65_to_lab(self.rgb01_to_xyz(arr / 255.0)).astype(np.float32)

    def to_color_correction(self) -> Any:
        """This model as the pipeline's :class:`~goldenvision.calibration.color.ColorCorrection` (3x3 in linear light).

        Only for a 3-term linear model (``Cheung 2004`` terms=3 or ``Finlayson 2015``
        degree=1) on ``"srgb"`` input, which is exactly ``ColorCorrection``'s form:
        ``linear sRGB = M_XYZ->sRGB @ C.T @ linear camera RGB``.
        """
        from .color import M_XYZ_TO_SRGB, ColorCorrection

        c = self.candidate
        linear3 = (c.expansion, c.order) in (("Cheung 2004", 3), ("Finlayson 2015", 1))
        if not linear3 or c.encoding != "srgb":
            raise CalibrationError(f"colour model {c.name!r}: only a 3x3 model on sRGB input converts to a ColorCorrection")
        loo = np.asarray(self.loo_de00, np.float64)
        return ColorCorrection(matrix=M_XYZ_TO_SRGB @ self.coefficients.T,
                               residual_de00_mean=float(loo.mean()) if loo.size else math.nan,
                               residual_de00_max=float(loo.max()) if loo.size else math.nan,
                               method=f"chart: {c.name}", residual_de00=tuple(float(v) for v in loo))

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "method": c.name, "expansion": c.expansion, "order": c.order, "solver": c.solver,
            "encoding": c.encoding, "ridge": c.ridge, "coefficients": self.coefficients.tolist(),
            "loo_de00": list(self.loo_de00), "fit_de00": list(self.fit_de00), "excluded": list(self.excluded),
            "space": "CIE XYZ D65 2 degree (Y=1 white) -> CIELAB D65", "reference": REFERENCE_CHART,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ColorModel":
        try:
            cand = Candidate(str(d["expansion"]), int(d["order"]), str(d["solver"]), str(d["encoding"]), float(d.get("ridge", 0.0)))
            if cand.expansion not in ("Cheung 2004", "Finlayson 2015", "Vandermonde") or cand.encoding not in ENCODINGS:
                raise CalibrationError(f"colour model: unknown expansion/encoding {cand.expansion!r}/{cand.encoding!r}")
            return cls(candidate=cand, coefficients=np.asarray(d["coefficients"], dtype=np.float64),
                       loo_de00=tuple(float(v) for v in d.get("loo_de00", ())),
                       fit_de00=tuple(float(v) for v in d.get("fit_de00", ())),
                       excluded=tuple(int(v) for v in d.get("excluded", ())))
        except KeyError as exc:
            raise CalibrationError(f"colour model: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"colour model: invalid value ({exc})") from None


#: A patch with a channel at or above this (fraction of full scale) is clipped: left out of fits.
CLIP_LEVEL = 250.0 / 255.0


def _best(cands: Sequence[Candidate], rgb01: np.ndarray, xyz: np.ndarray, lab: np.ndarray,
          tm: np.ndarray) -> tuple[Candidate, np.ndarray, dict[str, float]]:
    scores: dict[str, float] = {}
    best: tuple[float, Candidate, np.ndarray] | None = None
    for c in cands:
        e = loo_de00(c, rgb01, xyz, lab, train_mask=tm)
        m = float(np.mean(e[tm])) if tm.any() else math.inf
        scores[c.name] = m
        if best is None or m < best[0]:
            best = (m, c, e)
    assert best is not None
    return best[1], best[2], scores


def fit_characterisation(
    patch_rgb01: np.ndarray,
    *,
    xyz_ref: np.ndarray | None = None,
    lab_ref: np.ndarray | None = None,
    candidates: Sequence[Candidate] = CANDIDATES,
) -> ColorModel:
    """Choose and fit the camera characterisation by leave-one-out CIEDE2000.

    Parameters
    ----------
    patch_rgb01 : ndarray, shape (24, 3), float
        Camera values of the chart patches in [0, 1] (8-bit codes / 255), chart order.
    xyz_ref, lab_ref : ndarray, shape (24, 3), optional, keyword-only
        Reference XYZ D65 (Y = 1) and CIELAB D65; default colour-science's
        :data:`REFERENCE_CHART` (see :func:`colorchecker_reference`). Give one or both.
    candidates : sequence of Candidate, keyword-only

    Returns
    -------
    ColorModel
        The candidate with the lowest mean LOO ΔE00 over the unclipped patches, refitted on all
        unclipped patches. Clipped patches (a channel >= 250/255) never enter a fit.
    """
    rgb = np.asarray(patch_rgb01, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape[1] != 3 or len(rgb) < 6 or not np.all(np.isfinite(rgb)):
        raise CalibrationError(f"fit_characterisation patch_rgb01: expected a finite (N>=6, 3) array, got {rgb.shape}")
    if xyz_ref is None and lab_ref is None:
        _n, xyz_ref, lab_ref = colorchecker_reference()
    elif xyz_ref is None:
        import colour

        xyz_ref = np.asarray(colour.Lab_to_XYZ(np.asarray(lab_ref, np.float64), WHITEPOINT_D65_XY), np.float64)
    elif lab_ref is None:
        lab_ref = xyz_d65_to_lab(xyz_ref)
    xyz_ref = np.asarray(xyz_ref, np.float64)
    lab_ref = np.asarray(lab_ref, np.float64)
    if xyz_ref.shape != rgb.shape or lab_ref.shape != rgb.shape:
        raise CalibrationError(f"fit_characterisation: {len(rgb)} patches measured, references have shapes "
                               f"{xyz_ref.shape} / {lab_ref.shape}")
    tm = ~np.any(rgb >= CLIP_LEVEL, axis=1)
    if tm.sum() < 8:
        raise CalibrationError(f"fit_characterisation: only {int(tm.sum())} unclipped patches, expected at least 8; reduce exposure")
    cand, e, scores = _best(candidates, rgb, xyz_ref, lab_ref, tm)
    coef = fit_candidate(cand, linearise(rgb[tm], cand.encoding), xyz_ref[tm])
    pred = cand.expand(linearise(rgb, cand.encoding)) @ coef
    fit_e = np.asarray(delta_e_2000(xyz_d65_to_lab(pred), lab_ref), np.float64)
    return ColorModel(candidate=cand, coefficients=coef, loo_de00=tuple(float(v) for v in e),
                      fit_de00=tuple(float(v) for v in fit_e), excluded=tuple(int(i) for i in np.flatnonzero(~tm)),
                      scores=scores)


def nested_loo_de00(patch_rgb01: np.ndarray, xyz_ref: np.ndarray, lab_ref: np.ndarray,
                    *, candidates: Sequence[Candidate] = CANDIDATES) -> tuple[np.ndarray, list[str]]:
    """Honest leave-one-out CIEDE2000 of the whole procedure (choice included).

    For each patch, the candidate is chosen by LOO on the other patches only, fitted on them
    and scored on the held-out patch. Returns per-patch ΔE00 (N,) and the chosen method names.
    """
    rgb = np.asarray(patch_rgb01, np.float64)
    tm = ~np.any(rgb >= CLIP_LEVEL, axis=1)
    out = np.empty(len(rgb))
    chosen: list[str] = []
    for i in range(len(rgb)):
        keep = np.arange(len(rgb)) != i
        cand, _e, _s = _best(candidates, rgb[keep], xyz_ref[keep], lab_ref[keep], tm[keep])
        tr = keep & tm
        coef = fit_candidate(cand, linearise(rgb[tr], cand.encoding), xyz_ref[tr])
        pred = cand.expand(linearise(rgb[i: i + 1], cand.encoding)) @ coef
        out[i] = float(delta_e_2000(xyz_d65_to_lab(pred)[0], lab_ref[i]))
        chosen.append(cand.name)
    return out, chosen


@dataclass(frozen=True, eq=False)
class FlatField:
    """Illumination non-uniformity from a photo of a uniform white or grey card.

    ``gain`` (H, W, 3) float32 is the card's linear signal, smoothed (Gaussian, ``sigma_px``)
    and divided by its mean per channel; a photo is corrected by dividing its linear values
    by it, so the card itself becomes uniform.
    """

    gain: np.ndarray
    sigma_px: float
    encoding: str

    @classmethod
    def from_image(cls, card_rgb: np.ndarray, *, encoding: str = "srgb", sigma_px: float | None = None) -> "FlatField":
        img = np.asarray(card_rgb)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ImageError(f"flat-field card image: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
        lin = linearise(img / 255.0, encoding).astype(np.float32)
        s = float(sigma_px if sigma_px is not None else max(img.shape[:2]) / 50.0)
        blur = cv2.GaussianBlur(lin, (0, 0), s)
        mean = blur.reshape(-1, 3).mean(axis=0)
        if np.any(mean <= 1e-4) or np.any(blur.min(axis=(0, 1)) <= 0.02 * mean):
            raise CalibrationError("flat-field card image: too dark or partly black; expected a uniformly lit white/grey card")
        return cls(gain=(blur / mean).astype(np.float32), sigma_px=s, encoding=encoding)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 photo -> flat-fielded values in [0, 1] re-encoded with ``encoding`` (float64)."""
        img = np.asarray(rgb)
        if img.shape != self.gain.shape:
            raise CalibrationError(f"flat field: photo shape {img.shape}, card photo was {self.gain.shape}")
        lin = linearise(img / 255.0, self.encoding) / self.gain
        if self.encoding == "linear":
            return lin
        a = np.abs(lin)
        return np.sign(lin) * np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1 / 2.4) - 0.055)
