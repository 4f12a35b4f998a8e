"""The unit photo's own extra noise, beyond what the model's absolute floor holds.

:meth:`goldenvision.anomaly.AnomalyModel.score` takes ``extra_var``, an (H, W, 3) float32 map in
golden px of variance (8-bit RGB levels²) that this photo carries and the golden's did not: a coarse
JPEG's rounding (:func:`goldenvision.jpeg_noise.error_variance`). Each pixel-statistics channel adds
it to the absolute floor of its spread (:func:`extra_floor2`), so that evidence drops where the
compression can have made it, and only there: a print's edges and busy texture in a block-rounded
photo, not a plain surface. It is held for the duration of one ``score`` call in a context variable
(per thread and task), so the channels' signatures stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

__all__ = ["unit_extra_var", "extra_floor2"]

_EXTRA: ContextVar[np.ndarray | None] = ContextVar("goldenvision_unit_extra_var", default=None)


@contextmanager
def unit_extra_var(extra: np.ndarray | None) -> Iterator[None]:
    """Hold ``extra`` (H, W, 3) float32 or None for the channels scored within."""
    token = _EXTRA.set(extra)
    try:
        yield
    finally:
        _EXTRA.reset(token)


def extra_floor2(sl: tuple[slice, slice], shape: tuple[int, int], scale: float = 1.0) -> np.ndarray | None:
    """The held extra variance over the crop ``sl`` (h, w, 3) times ``scale``, or None when none is
    held (or it does not match the crop's ``shape``)."""
    v = _EXTRA.get()
    if v is None:
        return None
    c = v[sl]
    if c.shape[:2] != tuple(shape):
        return None
    return c * np.float32(scale) if scale != 1.0 else c
