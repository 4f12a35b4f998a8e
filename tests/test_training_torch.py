"""Training side (needs the train extra: torch, torchvision, onnx): targets, augmentation,
torch <-> onnxruntime parity of the exported graph, and a tiny train -> bundle -> resume run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("onnx")
pytest.importorskip("efficientnet_lite_pytorch")


def test_centernet_targets_peak_offset_and_log_size():
    from goldenvision.training.data import centernet_targets

    tg = centernet_targets(np.array([[10, 20, 42, 36]], np.float32), np.array([1]), 2, 64, 64)
    # centre (26, 28) px -> cell (x 6.5, y 7.0) at stride 4: peak at (7, 6), offset (0.5, 0)
    assert tg["heat"][1, 7, 6] == 1.0 and tg["heat"][0].max() == 0.0
    assert tg["ind"][0] == 7 * 16 + 6 and tg["mask"].tolist()[:2] == [1.0, 0.0]
    np.testing.assert_allclose(tg["reg"][0], [0.5, 0.0, np.log(8.0), np.log(4.0)], atol=1e-6)


def test_augmentation_moves_boxes_with_the_images():
    from goldenvision.training.data import PairArrays, augment, augmenter

    torch.manual_seed(3)
    img = np.zeros((64, 64), np.uint8)
    img[8:16, 40:56] = 255  # a bright bar; its box must follow it through flips and rotations
    pair = PairArrays(img, img, np.array([[40, 8, 56, 16]], np.float32), np.array([0]))
    tf = augmenter()
    for _ in range(8):
        t, tp, b, lab = augment(pair, tf)
        x1, y1, x2, y2 = (int(round(v)) for v in b[0])
        inside = t[0, y1:y2, x1:x2]
        assert inside.numel() == 128 and float(inside.min()) > 0.5, (x1, y1, x2, y2)
        outside = t[0].clone()
        outside[y1:y2, x1:x2] = 0
        assert float(outside.max()) < 0.5 * float(inside.min())  # (colour jitter lifts the background a little)
        assert torch.equal(t, tp) and lab.tolist() == [0]


def test_torch_onnxruntime_parity(tmp_path: Path):
    from goldenvision.detect.runtime import DefectDetector
    from goldenvision.training.export import export_onnx
    from goldenvision.training.model import ExportWrapper, SiameseCenterNet, load_pretrained_lite0

    torch.manual_seed(0)
    model = SiameseCenterNet(3, load_pretrained_lite0()).eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, classes=["a", "b", "c"], thresholds={"score": 0.3, "match_iou": 0.33}, version="t")
    det = DefectDetector.from_onnx_unverified(path)
    rng = np.random.default_rng(0)
    test = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    template = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    heat_o, box_o = det.maps(test, template)
    with torch.no_grad():
        t = torch.from_numpy(test).permute(2, 0, 1)[None].float() / 255
        tp = torch.from_numpy(template).permute(2, 0, 1)[None].float() / 255
        heat_t, box_t = (x[0].numpy() for x in ExportWrapper(model)(t, tp))
    assert heat_o.shape == heat_t.shape == (3, 24, 32)
    np.testing.assert_allclose(heat_o, heat_t, atol=1e-4)
    np.testing.assert_allclose(box_o, box_t, rtol=1e-3, atol=1e-2)
    assert det.classes == ("a", "b", "c") and det.score_threshold == 0.3


def _spot_sample(tmp_path: Path, i: int, rng: np.random.Generator):
    """A 64 px pair: a plain template and a unit with one dark 10 px spot, labelled."""
    from PIL import Image

    from goldenvision.datasets import Annotation, Sample

    template = np.full((64, 64, 3), 230, np.uint8)
    test = template.copy()
    x, y = (int(v) for v in rng.integers(8, 44, 2))
    test[y : y + 10, x : x + 10] = 20
    Image.fromarray(test).save(tmp_path / f"u{i}.png")
    Image.fromarray(template).save(tmp_path / f"t{i}.png")
    return Sample(tmp_path / f"u{i}.png", tmp_path / f"t{i}.png",
                  (Annotation((x, y, x + 10, y + 10), "spot"),), 64, 64, f"u{i}")


def test_tiny_training_run_exports_a_bundle_and_resumes(tmp_path: Path):
    from goldenvision.datasets import Dataset, save_dataset
    from goldenvision.detect.runtime import DefectDetector
    from goldenvision.training.run import train_model
    from goldenvision.training.train import TrainConfig

    rng = np.random.default_rng(0)
    samples = [_spot_sample(tmp_path, i, rng) for i in range(6)]
    save_dataset(Dataset(("spot",), tuple(samples), "gv", tmp_path), tmp_path / "ds")
    cfg = TrainConfig(epochs=1, n_val=2, crop_px=64, batch=2, crops_per_epoch=4, threads=1)
    out = tmp_path / "model"
    s1 = train_model(tmp_path / "ds", "gv", out, cfg, version="0.1")
    split = json.loads((out / "split.json").read_text())
    assert split["n_train"] == 4 and split["n_val"] == 2
    det = DefectDetector(out / "bundle", expected_sha256=s1["bundle_sha256"])
    assert det.classes == ("spot",) and det.info.version == "0.1"
    card = (out / "bundle" / "MODEL_CARD.md").read_text()
    assert split["dataset_sha256"] in card and "f_score_iou033" in card
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert manifest["data"]["dataset_sha256"] == split["dataset_sha256"] and "torch" in manifest["software"]
    with pytest.raises(Exception, match="resume"):
        train_model(tmp_path / "ds", "gv", out, cfg)
    # Newly labelled samples join on resume; the recorded validation side stays validation.
    samples += [_spot_sample(tmp_path, i, rng) for i in range(6, 12)]
    save_dataset(Dataset(("spot",), tuple(samples), "gv", tmp_path), tmp_path / "ds", force=True)
    messages: list[str] = []
    s2 = train_model(tmp_path / "ds", "gv", out, dataclasses.replace(cfg, epochs=2), resume=True, version="0.2",
                     progress=lambda d: messages.append(d.get("message", "")))
    assert s2["epochs_run"] == 2 and s2["bundle_sha256"] != s1["bundle_sha256"]
    split2 = json.loads((out / "split.json").read_text())
    assert split2["new_train"] + split2["new_val"] == 6 and split2["n_train"] + split2["n_val"] == 12
    assert {e["sha256"] for e in split["val"]} <= {e["sha256"] for e in split2["val"]}
    assert any(f"{split2['new_train']} new sample(s) joined train" in m for m in messages)
    assert len(json.loads((out / "history.json").read_text())) == 2
