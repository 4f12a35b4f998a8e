"""Patch-feature aggregation of the feature methods (no backbone needed)."""

from __future__ import annotations

import numpy as np

from goldenvision.anomaly import AnomalyConfig, AnomalyModel
from goldenvision.anomaly import zone_features as ZF
from goldenvision.spec import AnomalyZone


def test_pool_features_is_the_neighbourhood_mean():
    f = np.zeros((7, 9, 10), np.float32)
    f[3, 4, :] = 9.0
    p = ZF.pool_features(f, 1)
    assert p.shape == f.shape and p.dtype == np.float32
    np.testing.assert_allclose(p[2:5, 3:6], 1.0, atol=1e-6)  # 9 spread over the 3 x 3 cells
    assert p[0, 0].max() == 0.0 and p[3, 6].max() == 0.0
    assert ZF.pool_features(f, 0) is f


def test_cell_evidence_is_averaged_so_a_region_outscores_a_single_cell():
    img = np.full((64, 64, 3), 128, np.uint8)
    model = AnomalyModel.fit([img] * 3, [AnomalyZone(name="z", method="variation")],
                             config=AnomalyConfig(feature_scale=1.0))
    one = np.zeros((8, 8), np.float32)
    one[4, 4] = 1.0
    block = np.zeros((8, 8), np.float32)
    block[3:6, 3:6] = 1.0
    s_one, s_block = ZF.cells_to_px(model, one).max(), ZF.cells_to_px(model, block).max()
    assert s_one < 0.5 * s_block and s_block > 0.5
