"""Gauge R&R of a station: photograph parts repeatedly, measure every dimension, study the spread.

:func:`gauge_study` inspects the photos with an Inspector held for the golden and hands each
dimension's measurements to :func:`goldenvision.measure.gauge_rr` (AIAG MSA 4th ed., ANOVA).
Nothing here prints; progress goes to an optional ``progress(stage, done, total)`` callback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import numpy as np

from .batch import ProgressCallback, inspect_file
from .errors import InputNotFoundError, SpecError
from .golden import GoldenSample
from .measure import GaugeStudy, gauge_rr

__all__ = ["DimensionGauge", "GaugeReport", "gauge_study"]


@dataclass(frozen=True)
class DimensionGauge:
    """The gauge study of one spec dimension.

    ``study`` is None when the dimension was not measured in every photo; ``unmeasured``
    then counts the photos that lack it.
    """

    name: str
    tolerance_width_mm: float
    study: GaugeStudy | None
    unmeasured: int = 0

    def to_dict(self) -> dict[str, Any]:
        if self.study is None:
            return {"error": f"not measured in {self.unmeasured} photo(s)"}
        return self.study.to_dict()


@dataclass(frozen=True)
class GaugeReport:
    """A gauge R&R study of every dimension of a golden's spec."""

    parts: int
    operators: int
    repeats: int
    dimensions: tuple[DimensionGauge, ...]

    def to_dict(self) -> dict[str, Any]:
        return {d.name: d.to_dict() for d in self.dimensions}


def gauge_study(
    images: Sequence["str | os.PathLike[str]"],
    golden: GoldenSample,
    *,
    parts: int = 1,
    operators: int = 1,
    inspector: Any = None,
    progress: ProgressCallback | None = None,
) -> GaugeReport:
    """Gauge R&R of every dimension as a share of its tolerance band.

    Parameters
    ----------
    images : sequence of path
        Photos ordered part-major: for each part, for each operator (or session), the repeats.
    golden : GoldenSample
        Its spec's dimensions are measured.
    parts, operators : int, keyword-only
        ``parts=1, operators=1`` is one part photographed repeatedly (repeatability only).
    inspector : Inspector, optional, keyword-only
        One already held for ``golden``.
    progress : callable (stage, done, total), optional, keyword-only

    Returns
    -------
    GaugeReport

    Raises
    ------
    SpecError
        The photos do not split into ``parts x operators x >= 2`` repeats, or the spec has no dimension.
    InputNotFoundError
        A photo does not exist.
    """
    from .pipeline import Inspector

    n = len(images)
    if parts < 1 or operators < 1 or n % (parts * operators) or n // (parts * operators) < 2:
        raise SpecError(f"{n} photos: expected them to split into {parts} parts x {operators} operators x "
                        ">= 2 repeats")
    if not golden.spec.dimensions:
        raise SpecError(f"spec of {golden.spec.product}: expected dimensions to study, the spec has none")
    for p in images:
        if not os.path.isfile(p):
            raise InputNotFoundError(f"{p}: photo not found")
    repeats = n // (parts * operators)
    held = Inspector(golden) if inspector is None else inspector
    values: dict[str, list[float]] = {d.name: [] for d in golden.spec.dimensions}
    for i, p in enumerate(images):
        got = {d.name: d.measured_mm for d in inspect_file(held, p).dimensions}
        for name in values:
            values[name].append(got.get(name, float("nan")))
        if progress:
            progress("measuring", i + 1, n)
    out = []
    for d in golden.spec.dimensions:
        width = d.tol_minus_mm + d.tol_plus_mm
        arr = np.asarray(values[d.name], dtype=float)
        missing = int(np.isnan(arr).sum())
        if missing:
            out.append(DimensionGauge(d.name, width, None, missing))
            continue
        shaped = arr if parts == 1 and operators == 1 else arr.reshape(parts, operators, repeats)
        out.append(DimensionGauge(d.name, width, gauge_rr(shaped, width)))
    return GaugeReport(parts=parts, operators=operators, repeats=repeats, dimensions=tuple(out))
