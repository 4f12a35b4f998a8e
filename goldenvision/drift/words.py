"""Metric names and units, and the direction of a shift in words (:func:`direction_words`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._common import DriftError

# --------------------------------------------------------------------------------------
# Metric names, units and directions in words
# --------------------------------------------------------------------------------------

def _split_metric(metric: str) -> tuple[str, str, str]:
    kind, _, rest = metric.partition(".")
    feature, _, stat = rest.rpartition(".")
    if not kind or not feature or not stat:
        return "", metric, ""
    return kind, feature, stat


_UNITS = {"dL": "ΔL*", "dC": "ΔC*", "dH": "ΔH*", "de00": "ΔE00", "de00_target": "ΔE00", "mm": "mm", "score": ""}


def metric_unit(metric: str) -> str:
    """The unit symbol of a store metric: 'ΔL*', 'ΔE00', 'mm', '' (anomaly scores)."""
    return _UNITS.get(_split_metric(metric)[2], "")


def metric_label(metric: str) -> str:
    """A short human label: 'panel ΔL*', 'strap_width (mm)', 'buckle anomaly score'."""
    kind, feature, stat = _split_metric(metric)
    if kind == "color":
        return f"{feature} {_UNITS.get(stat, stat)}" + (" vs target" if stat == "de00_target" else "")
    if kind == "dimension":
        return f"{feature} (mm)"
    if kind == "anomaly":
        return f"{feature} anomaly score"
    return metric


def _hue_words(reference_lab: Sequence[float] | None, side: int) -> str:
    if reference_lab is None:
        return "hue turning anticlockwise" if side > 0 else "hue turning clockwise"
    h = math.atan2(float(reference_lab[2]), float(reference_lab[1]))
    da, db = -math.sin(h) * side, math.cos(h) * side  # direction of increasing hue angle in a*b*
    if abs(da) >= abs(db):
        return "redder" if da > 0 else "greener"
    return "yellower" if db > 0 else "bluer"


def direction_words(metric: str, side: int, *, reference_lab: Sequence[float] | None = None) -> str:
    """A shift's direction in words, e.g. ``"panel getting darker"``, ``"strap_width getting smaller"``.

    Parameters
    ----------
    metric : str
        A store metric name (``color.<zone>.dL``, ``dimension.<name>.mm``, ...).
    side : int
        +1 the metric is going up, -1 going down.
    reference_lab : (L*, a*, b*) or None
        The golden's colour, to name a hue shift (``dH``) by the a*b* axis it moves along.
    """
    if side not in (1, -1):
        raise DriftError(f"side: expected +1 or -1, got {side!r}")
    kind, feature, stat = _split_metric(metric)
    up = side > 0
    if kind == "color":
        word = {
            "dL": "lighter" if up else "darker",
            "dC": "more saturated" if up else "duller (greyer)",
            "dH": _hue_words(reference_lab, side),
            "de00": "further from the golden colour" if up else "closer to the golden colour",
            "de00_target": "further from the target colour" if up else "closer to the target colour",
        }.get(stat, "going up" if up else "going down")
        return f"{feature} getting {word}" if not word.startswith("hue") else f"{feature} {word}"
    if kind == "dimension":
        return f"{feature} getting {'larger' if up else 'smaller'}"
    if kind == "anomaly":
        return f"{feature} looking {'more' if up else 'less'} anomalous"
    return f"{metric} going {'up' if up else 'down'}"
