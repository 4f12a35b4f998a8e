"""The sealed golden sample: images, fitted models and measurements, in one package.

This module holds the in-memory, immutable :class:`GoldenSample`; ``save``/``load_golden``
write and read the package (a zip of members, each hashed in the manifest), implemented in
:mod:`goldenvision.package`, which imports this module (never the other way round at import
time: ``save``, ``provenance`` and ``load_golden`` here import the package when called).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .spec import Spec

__all__ = ["GoldenSample"]  # load_golden: see __getattr__ below


@dataclass(frozen=True)
class GoldenSample:
    """A sealed golden sample.

    Attributes
    ----------
    spec : Spec
        The spec sheet the sample was sealed against.
    reference : ndarray, shape (H, W, 3), uint8
        The golden reference image (defines golden px).
    captures : tuple of ndarray, each (H, W, 3) uint8
        All golden captures aligned into golden px (the reference first); a list given is
        stored as a tuple.
    states : dict of str to dict
        Fitted stage models by stage name (``"registration"``, ``"anomaly"``, ...), each the
        ``to_state()`` of its model: values are ndarrays or JSON-able.
    meta : dict
        JSON-able facts: golden Lab per colour zone, golden dimensions, profile id,
        capture conditions, software and model versions. ``save`` and ``load_golden`` set
        ``meta["package"]`` (the package's identity); nothing else changes a sealed sample.
    profile : dict or None
        The station profile as loaded from YAML (``StationProfile.raw``), None without one.
    """

    spec: Spec
    reference: np.ndarray
    captures: tuple[np.ndarray, ...]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "captures", tuple(self.captures))
        ref = np.asarray(self.reference)
        if ref.ndim != 3 or ref.shape[2] != 3 or ref.dtype != np.uint8:
            raise ValueError(f"GoldenSample.reference: expected (H, W, 3) uint8, got {ref.shape} {ref.dtype}")
        for i, c in enumerate(self.captures):
            if c.shape != ref.shape or c.dtype != np.uint8:
                raise ValueError(
                    f"GoldenSample.captures[{i}]: expected {ref.shape} uint8 like the reference, got {c.shape} {c.dtype}"
                )

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the golden frame in px."""
        return int(self.reference.shape[0]), int(self.reference.shape[1])

    def save(self, path: "str | os.PathLike[str]", *, sign_with: Any = (), predecessor: Any = None) -> "Path":
        """Seal into one signed package file; see :func:`goldenvision.package.save_golden`."""
        from . import package

        return package.save_golden(self, path, sign_with=sign_with, predecessor=predecessor)

    def provenance(self) -> dict[str, Any]:
        """Audit-trail record (golden id, revision, manifest sha256, ...); see
        :func:`goldenvision.package.golden_provenance`."""
        from . import package

        return package.golden_provenance(self)


def __getattr__(name: str) -> Any:
    """``load_golden`` is :func:`goldenvision.package.load_golden`, imported on first use (PEP 562):
    the package module imports this one, so importing it here at module level would be a cycle."""
    if name == "load_golden":
        from .package import load_golden

        return load_golden
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
