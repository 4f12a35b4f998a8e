"""goldenvision._stats: numpy stand-ins for scipy.stats functions, the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from goldenvision._stats import mad_normal


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mad_normal_is_scipys_median_abs_deviation_normal_to_the_bit(dtype) -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 400))
        x = (rng.standard_normal(n) * rng.uniform(0.01, 100)).astype(dtype)
        if trial % 5 == 0:
            x = np.round(x)  # ties
        if trial % 7 == 0:
            x[rng.integers(n)] = np.nan  # NaN propagates (scipy's default nan_policy)
        ours, theirs = mad_normal(x), median_abs_deviation(x, scale="normal")
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        assert np.array_equal(ours, theirs, equal_nan=True)
        x2 = (rng.standard_normal((3, n)) * 4).astype(dtype)  # per channel, as color.robust calls it
        if trial % 7 == 0:
            x2[1, rng.integers(n)] = np.nan
        ours, theirs = mad_normal(x2, axis=1), median_abs_deviation(x2, axis=1, scale="normal")
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == (3,)
        assert np.array_equal(ours, theirs, equal_nan=True)
