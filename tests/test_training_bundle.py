"""Detector bundles without torch: hash checks, signatures, onnxruntime inference, evaluation,
and the pipeline's use of a bundle named by the spec. Uses the committed hand-made bundle
tests/data/tiny_detector (see tests/tiny_detector.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from goldenvision import signing
from goldenvision.detect.bundle import sign_bundle, verify_bundle
from goldenvision.detect.runtime import DefectDetector
from goldenvision.errors import IntegrityError, UntrustedSignatureError
from tests.tiny_detector import BUNDLE

pytest.importorskip("onnxruntime")


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "tiny"
    shutil.copytree(BUNDLE, out)
    return out


def test_verified_bundle_names_its_classes_and_thresholds(bundle: Path):
    info = verify_bundle(bundle)
    assert info.classes == ("dark", "bright")
    assert info.thresholds == {"score": 0.5, "match_iou": 0.33}
    assert info.version == "1.0.0" and len(info.bundle_sha256) == 64
    assert verify_bundle(bundle, expected_sha256=info.bundle_sha256[:12]).bundle_sha256 == info.bundle_sha256


def test_tampered_model_is_refused(bundle: Path):
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-1] ^= 0x01
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="altered"):
        DefectDetector(bundle)


def test_changed_threshold_in_manifest_changes_the_bundle_hash(bundle: Path):
    sha = verify_bundle(bundle).bundle_sha256
    m = json.loads((bundle / "manifest.json").read_text())
    m["thresholds"]["score"] = 0.1
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IntegrityError, match="does not match the expected"):
        verify_bundle(bundle, expected_sha256=sha)
    # and the ONNX metadata (inside the hashed model) no longer agrees with the manifest
    with pytest.raises(IntegrityError, match="differs from the manifest"):
        DefectDetector(bundle)


def test_unlisted_file_and_wrong_hash_are_refused(bundle: Path):
    with pytest.raises(IntegrityError, match="does not match"):
        verify_bundle(bundle, expected_sha256="0" * 64)
    (bundle / "thresholds.json").write_text("{}")
    with pytest.raises(IntegrityError, match="not in the manifest"):
        verify_bundle(bundle)


def test_signed_bundle_trusted_roles(bundle: Path, tmp_path: Path):
    key_pem, pub_pem = signing.new_keypair("qa", "inspector")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "qa.pub").write_bytes(pub_pem)
    with pytest.raises(UntrustedSignatureError):
        verify_bundle(bundle, trusted_keys=tmp_path / "keys", required_roles=("inspector",))
    sign_bundle(bundle, key_pem, role="inspector", signer="qa")
    info = verify_bundle(bundle, trusted_keys=tmp_path / "keys", required_roles=("inspector",))
    assert [s["role"] for s in info.signatures] == ["inspector"]
    with pytest.raises(UntrustedSignatureError):
        verify_bundle(bundle, trusted_keys=tmp_path / "keys", required_roles=("buyer",))
    # a signature copied onto an altered bundle does not verify
    m = json.loads((bundle / "manifest.json").read_text())
    m["version"] = "2.0.0"
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IntegrityError, match="signs bundle"):
        verify_bundle(bundle)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    template = np.full((64, 96, 3), 200, np.uint8)
    test = template.copy()
    test[20:24, 40:44] = 0  # dark spot, one 4 px cell: cell (5, 10), centre (42, 22)
    test[40:44, 8:12] = 255  # bright spot, cell (10, 2), centre (10, 42); score 55/255 * 4 = 0.86
    return test, template


def test_detector_finds_dark_and_bright_spots_in_px():
    det = DefectDetector(BUNDLE)
    test, template = _pair()
    d = det.detect(test, template)
    got = sorted((det.classes[lab], tuple(b)) for b, lab in zip(d.boxes.tolist(), d.labels.tolist(), strict=True))
    assert got == [("bright", (2.0, 34.0, 18.0, 50.0)), ("dark", (34.0, 14.0, 50.0, 30.0))]
    # no template: the test is its own template, nothing differs
    assert det.detect(test).boxes.shape == (0, 4)
    # an odd size is padded to a multiple of 32 and boxes stay in the image
    d2 = det.detect(test[:50, :70], template[:50, :70])
    assert len(d2.scores) == 2 and d2.boxes[:, 2].max() <= 70


def test_evaluate_bundle_and_report(tmp_path: Path):
    from PIL import Image

    from goldenvision.datasets import Annotation, Dataset, Sample
    from goldenvision.training.evaluate import evaluate_bundle, write_report

    test, template = _pair()
    Image.fromarray(test).save(tmp_path / "a.png")
    Image.fromarray(template).save(tmp_path / "a_t.png")
    anns = (
        Annotation((40, 20, 44, 24), "dark"),  # IoU with the 16 px box 16/256: missed by the 0.33 rule
        Annotation((3, 35, 17, 49), "bright"),  # IoU 196/256 > 0.5
    )
    ds = Dataset(classes=("dark", "bright"), samples=(Sample(tmp_path / "a.png", tmp_path / "a_t.png", anns, 96, 64, "a"),),
                 source_format="gv", root=tmp_path)
    ev = evaluate_bundle(DefectDetector(BUNDLE), ds)
    # bright: TP; dark: FN plus an FP (wrong size) -> P = 1/2, R = 1/2
    assert ev.precision == pytest.approx(0.5) and ev.recall == pytest.approx(0.5)
    assert ev.f_score_iou033 == pytest.approx(0.5)
    assert ev.per_class["bright"]["ap50"] == pytest.approx(1.0) and ev.per_class["dark"]["ap50"] == pytest.approx(0.0)
    assert ev.map50 == pytest.approx(0.5)
    page = write_report(ev, ds, tmp_path / "rep")
    text = page.read_text()
    assert "f_score_iou033" in text and "worst_00.png" in text
    assert (tmp_path / "rep" / "pr_curves.png").stat().st_size > 0
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["map50"] == pytest.approx(0.5)


def test_pipeline_reports_detector_classes_in_golden_px(demo_golden, demo_lot, tmp_path: Path):
    """A spec naming a bundle: the Inspector loads it once and its detections become defects
    with class names (the tiny bundle flags any dark / bright difference to the golden)."""
    import dataclasses

    import goldenvision as gv
    from goldenvision.spec import DetectorRef

    sha = verify_bundle(BUNDLE).bundle_sha256
    spec = demo_golden.spec.model_copy(update={"detector": DetectorRef(bundle=str(BUNDLE), sha256=sha, version="1.0.0")})
    golden = dataclasses.replace(demo_golden, spec=spec)
    insp = gv.Inspector(golden)
    assert insp.golden_provenance["detector"]["bundle_sha256"] == sha
    r = insp.inspect(str(demo_lot.unit_paths[0]), unit_id="u0")
    found = [d for d in r.defects if d.defect_class is not None]
    assert found, r.reasons
    h, w = golden.reference.shape[:2]
    for d in found:
        assert d.defect_class in ("dark", "bright")
        x1, y1, x2, y2 = d.bbox
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h  # golden px, clipped to the frame
        assert d.score >= 1.0  # at or above the bundle's threshold
    assert r.verdict == gv.Verdict.failed and any(s.startswith("detector: ") for s in r.reasons)
    assert r.to_dict()["defects"][-1]["defect_class"] in ("dark", "bright")
    # pinned to another hash: refused when the Inspector is built
    bad = dataclasses.replace(demo_golden, spec=spec.model_copy(update={"detector": DetectorRef(bundle=str(BUNDLE), sha256="0" * 64)}))
    with pytest.raises(IntegrityError):
        gv.Inspector(bad)
    with pytest.raises(Exception, match="version"):
        gv.Inspector(dataclasses.replace(demo_golden, spec=spec.model_copy(
            update={"detector": DetectorRef(bundle=str(BUNDLE), sha256=sha, version="9")})))


def test_cli_evaluate_json_and_refusals(tmp_path: Path):
    from PIL import Image
    from typer.testing import CliRunner

    from goldenvision.cli import app
    from goldenvision.datasets import Annotation, Dataset, Sample, save_dataset

    test, template = _pair()
    Image.fromarray(test).save(tmp_path / "a.png")
    Image.fromarray(template).save(tmp_path / "a_t.png")
    anns = (Annotation((34, 14, 50, 30), "dark"), Annotation((2, 34, 18, 50), "bright"))
    save_dataset(Dataset(("dark", "bright"), (Sample(tmp_path / "a.png", tmp_path / "a_t.png", anns, 96, 64, "a"),), "gv",
                         tmp_path), tmp_path / "ds")
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", str(BUNDLE), str(tmp_path / "ds"), "--format", "gv", "--json",
                            "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["map50"] == pytest.approx(1.0) and d["f_score_iou033"] == pytest.approx(1.0)
    assert d["per_class"]["dark"]["recall"] == pytest.approx(1.0) and (tmp_path / "rep" / "index.html").is_file()
    r = runner.invoke(app, ["evaluate", str(BUNDLE), str(tmp_path / "ds"), "--format", "gv", "--sha256", "0" * 64])
    assert r.exit_code == 65, r.output  # bad data: the bundle is not the pinned one
    r = runner.invoke(app, ["evaluate", str(tmp_path / "nothing"), str(tmp_path / "ds"), "--format", "gv"])
    assert r.exit_code == 66, r.output
