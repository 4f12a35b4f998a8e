"""The drift package's error and input check, shared by its modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GoldenVisionError


class DriftError(GoldenVisionError, ValueError):
    """An SPC input is invalid (too few points, zero spread, an unknown rule set or chart)."""


def _as_1d(x: Any, name: str, *, min_len: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise DriftError(f"{name}: expected a 1-D array of values, got shape {a.shape}")
    if a.size < min_len:
        raise DriftError(f"{name}: expected at least {min_len} values, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise DriftError(f"{name}: expected finite values, got {int((~np.isfinite(a)).sum())} NaN/inf")
    return a
