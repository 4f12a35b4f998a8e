"""The golden-side precomputation of the registration (:class:`RegistrationModel`), stored
in the sealed package so that each unit only computes its own side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError
from ._base import (
    _COARSE_START_SIDE,
    _LEVEL_KEYS,
    _N_POINTS,
    _STATE_VERSION,
    _as_gray,
    _as_mask,
    _fine_level_data,
    _gray_weights,
    _level_for_side,
    _mask_pyramid,
    _masked_structure,
    _n_levels_for,
    _project_gray,
    _pyramid,
)
from .features import _detect

__all__ = ["RegistrationModel"]

@dataclass
class RegistrationModel:
    """Golden-side precomputation for :func:`register` (stored in the sealed package).

    Build it with :meth:`fit`; attributes that ``fit`` learns end in ``_``.

    Attributes
    ----------
    shape_hw_ : tuple of int
        (H, W) of the reference in px.
    work_level_ : int
        Pyramid level of the keypoints (longest side <= ``max_side_px``).
    levels_ : list of dict
        Per fine-alignment level (index = pyramid level): ``pts`` (N, 2) float32 level px,
        ``t`` (N,) float32 gray values, ``sd`` (N, 8) float32 steepest-descent rows.
    orb_ / sift_ : dict
        Keypoints ``pts`` (N, 2) float32 working-level px and ``desc`` descriptors.
    coarse_ : ndarray, (h, w) uint8
        The reference at the coarse verification level (``coarse_level_``).
    coarse_mask_ : ndarray, (h, w) bool
    fm_ : dict
        Fourier-Mellin data at ``coarse_level_``.
    gray_std_ : float
        Std of the reference gray values inside the mask (0-255).
    gray_weights_ : (float, float, float) or None
        RGB weights of the gray image both sides are aligned on, when a colour projection shows
        the product far better than the luminance (:func:`._base._gray_weights`); None: the
        luminance (BT.601).
    """

    shape_hw_: tuple[int, int]
    work_level_: int
    coarse_level_: int
    levels_: list[dict[str, np.ndarray]]
    orb_: dict[str, np.ndarray]
    sift_: dict[str, np.ndarray]
    coarse_: np.ndarray
    coarse_mask_: np.ndarray
    work_mask_: np.ndarray
    gray_std_: float
    has_mask_: bool
    gray_weights_: tuple[float, float, float] | None = None

    @classmethod
    def fit(cls, reference_rgb: np.ndarray, *, mask: np.ndarray | None = None, max_side_px: int = 800,
            gray_weights: tuple[float, float, float] | None | str = "auto") -> "RegistrationModel":
        """Precompute the reference side of the registration.

        Parameters
        ----------
        reference_rgb : ndarray, (H, W, 3) uint8 RGB or (H, W) uint8 gray
            The golden reference image (defines golden px).
        mask : ndarray, (H, W) bool, optional
            Where keypoints and correlation count (golden px); e.g. the product area, so the
            static fiducials and colour chart of a light box do not drive the alignment.
        max_side_px : int
            Longest side (px) of the pyramid level on which keypoints are taken.
        gray_weights : (float, float, float), None or "auto"
            RGB weights of the gray both sides are aligned on: ``"auto"`` (the default) chooses
            (:func:`._base._gray_weights`); None: the luminance; three weights (an RGB
            reference): that projection (e.g. :func:`._base._silhouette_gray_weights`).
        """
        gray = _as_gray(reference_rgb, "reference")
        mask = _as_mask(mask, gray.shape)
        if isinstance(gray_weights, str):
            if gray_weights != "auto":
                raise SpecError(f"gray_weights: expected 'auto', None or 3 numbers, got {gray_weights!r}")
            weights = _gray_weights(reference_rgb, mask) if reference_rgb.ndim == 3 else None
        elif gray_weights is None or reference_rgb.ndim != 3:
            weights = None
        else:
            weights = _weights_of(gray_weights)
        if weights is not None:
            gray = _project_gray(reference_rgb, weights, "reference")
        if not isinstance(max_side_px, int) or max_side_px < 64:
            raise SpecError(f"max_side_px: expected an int >= 64, got {max_side_px!r}")
        n_lv = _n_levels_for(gray.shape)
        work = min(_level_for_side(gray.shape, max_side_px), n_lv - 1)
        coarse = min(max(_level_for_side(gray.shape, _COARSE_START_SIDE), 0), n_lv - 1)
        pyr = _pyramid(gray, max(n_lv, coarse + 1))
        masks = _mask_pyramid(mask, pyr)
        levels = [
            _fine_level_data(pyr[k], masks[k], _N_POINTS if k == 0 else max(3000, _N_POINTS >> k), seed=k)
            for k in range(coarse + 1)
        ]
        wmask = masks[work]
        cmask = masks[coarse]
        orb = _detect(pyr[work], wmask, "orb")
        sift = _detect(pyr[work], wmask, "sift")
        return cls(
            shape_hw_=(int(gray.shape[0]), int(gray.shape[1])),
            work_level_=int(work),
            coarse_level_=int(coarse),
            levels_=levels,
            orb_=orb,
            sift_=sift,
            coarse_=pyr[coarse].copy(),
            coarse_mask_=(np.ones(pyr[coarse].shape, bool) if cmask is None else cmask),
            work_mask_=(np.ones(pyr[work].shape, bool) if wmask is None else wmask),
            gray_std_=_masked_structure(gray, mask),
            has_mask_=mask is not None,
            gray_weights_=weights,
        )

    def to_state(self) -> dict[str, Any]:
        """State for the golden package: ndarrays and JSON-able values only."""
        st: dict[str, Any] = {
            "version": _STATE_VERSION,
            "shape_hw": list(self.shape_hw_),
            "work_level": self.work_level_,
            "coarse_level": self.coarse_level_,
            "n_levels": len(self.levels_),
            "coarse": self.coarse_,
            "coarse_mask": self.coarse_mask_,
            "work_mask": self.work_mask_,
            "gray_std": float(self.gray_std_),
            "has_mask": bool(self.has_mask_),
            "gray_weights": None if self.gray_weights_ is None else [float(v) for v in self.gray_weights_],
        }
        for k, lv in enumerate(self.levels_):
            for key, arr in lv.items():
                st[f"level{k}_{key}"] = arr
        for name, d in (("orb", self.orb_), ("sift", self.sift_)):
            for key, arr in d.items():
                st[f"{name}_{key}"] = arr
        return st

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RegistrationModel":
        """Rebuild a model from :meth:`to_state` output."""
        try:
            if int(state["version"]) != _STATE_VERSION:
                raise SpecError(f"registration state: expected version {_STATE_VERSION}, got {state['version']!r}")
            n = int(state["n_levels"])
            levels = [{key: np.asarray(state[f"level{k}_{key}"]) for key in _LEVEL_KEYS} for k in range(n)]
            return cls(
                shape_hw_=(int(state["shape_hw"][0]), int(state["shape_hw"][1])),
                work_level_=int(state["work_level"]),
                coarse_level_=int(state["coarse_level"]),
                levels_=levels,
                orb_={k: np.asarray(state[f"orb_{k}"]) for k in ("pts", "desc")},
                sift_={k: np.asarray(state[f"sift_{k}"]) for k in ("pts", "desc")},
                coarse_=np.asarray(state["coarse"], dtype=np.uint8),
                coarse_mask_=np.asarray(state["coarse_mask"], dtype=bool),
                work_mask_=np.asarray(state["work_mask"], dtype=bool),
                gray_std_=float(state["gray_std"]),
                has_mask_=bool(state["has_mask"]),
                gray_weights_=_weights_of(state.get("gray_weights")),
            )
        except KeyError as exc:
            raise SpecError(f"registration state: missing key {exc.args[0]!r}") from None


def _weights_of(value: Any) -> tuple[float, float, float] | None:
    """Gray weights from a state (absent in packages sealed before they existed: luminance)."""
    if value is None:
        return None
    w = [float(v) for v in np.asarray(value, dtype=np.float64).ravel()]
    if len(w) != 3:
        raise SpecError(f"registration state: gray_weights expected 3 numbers, got {len(w)}")
    return (w[0], w[1], w[2])
