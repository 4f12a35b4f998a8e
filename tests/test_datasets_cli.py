"""``goldenvision dataset check|convert|demo`` and ``goldenvision label`` (the feedback loop)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from goldenvision.cli import app
from goldenvision.datasets import load_dataset

runner = CliRunner()


def _img(path: Path, w: int = 64, h: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def _deeppcb(root: Path) -> Path:
    lines = []
    for i in range(2):
        sid = f"00041{i:03d}"
        _img(root / f"group00041/00041/{sid}_test.jpg", 64, 64, seed=i)
        _img(root / f"group00041/00041/{sid}_temp.jpg", 64, 64, seed=9 + i)
        ann = root / f"group00041/00041_not/{sid}.txt"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(f"2 3 20 30 {i + 1}\n30,30,60,62,3\n")
        lines.append(f"group00041/00041/{sid}.jpg group00041/00041_not/{sid}.txt")
    (root / "trainval.txt").write_text("\n".join(lines) + "\n")
    return root


def test_dataset_check_prints_counts_and_exits_65_on_bad_data(tmp_path):
    root = _deeppcb(tmp_path)
    r = runner.invoke(app, ["dataset", "check", str(root), "--format", "deeppcb", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n_samples"] == 2 and s["n_annotations"] == 4 and s["n_with_template"] == 2
    assert s["class_counts"] == {"open": 1, "short": 1, "mousebite": 2, "spur": 0, "copper": 0, "pin-hole": 0}
    r = runner.invoke(app, ["dataset", "check", str(root), "--format", "deeppcb"])
    assert r.exit_code == 0 and "mousebite" in r.stdout and "valid" in r.stdout
    (root / "group00041/00041_not/00041001.txt").write_text("2 3 20 30 2\n30 30 70 62 3\n")
    r = runner.invoke(app, ["dataset", "check", str(root), "--format", "deeppcb"])
    assert r.exit_code == 65
    assert "00041001.txt:2: box (30, 30, 70, 62) lies outside the 64x64 image" in r.stderr
    r = runner.invoke(app, ["dataset", "check", str(root), "--format", "pascal"])
    assert r.exit_code == 64
    r = runner.invoke(app, ["dataset", "check", str(tmp_path / "none"), "--format", "coco"])
    assert r.exit_code == 66


def test_dataset_convert_writes_gv_and_refuses_to_overwrite(tmp_path):
    root = _deeppcb(tmp_path / "src")
    out = tmp_path / "gv"
    r = runner.invoke(app, ["dataset", "convert", str(root), "--format", "deeppcb", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["out"] == str(out / "dataset.json")
    back = load_dataset(out, "gv")
    assert back.n_annotations == 4 and back.content_sha256() == json.loads(r.stdout)["content_sha256"]
    r = runner.invoke(app, ["dataset", "convert", str(root), "--format", "deeppcb", "--out", str(out)])
    assert r.exit_code == 73
    r = runner.invoke(app, ["dataset", "convert", str(root), "--format", "deeppcb", "--out", str(out), "--force",
                            "--classes", "open,short"])
    assert r.exit_code == 65 and "class map does not match" in r.stderr


def test_dataset_demo_command(tmp_path):
    r = runner.invoke(app, ["dataset", "demo", str(tmp_path / "d"), "--units", "8", "--seed", "1", "--size", "0.2",
                            "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n_samples"] == 8 and s["n_with_template"] == 8 and s["class_counts"]["scratch"] == 1


def test_label_photo_frame_adds_merges_and_refuses(tmp_path):
    photo = _img(tmp_path / "u1.png", 80, 60, seed=1)
    d = tmp_path / "fb"
    r = runner.invoke(app, ["label", str(photo), "--dataset", str(d), "--box", "1,2,10,20", "--class", "stain",
                            "--severity", "major", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["frame"] == "photo px"
    r = runner.invoke(app, ["label", str(photo), "--dataset", str(d), "--box", "30,2,40,20", "--box", "50,5,60,9",
                            "--class", "scratch", "--class", "stain"])
    assert r.exit_code == 0, r.output
    ds = load_dataset(d, "gv")
    assert ds.classes == ("stain", "scratch") and len(ds.samples) == 1
    assert [(a.label, a.severity) for a in ds.samples[0].annotations] == [("stain", "major"), ("scratch", None),
                                                                          ("stain", None)]
    assert ds.samples[0].template is None and ds.samples[0].image.parent == (d / "images").resolve()
    good = _img(tmp_path / "u2.png", 80, 60, seed=2)
    assert runner.invoke(app, ["label", str(good), "--dataset", str(d), "--good"]).exit_code == 0
    assert [len(s.annotations) for s in load_dataset(d, "gv").samples] == [3, 0]
    r = runner.invoke(app, ["label", str(photo), "--dataset", str(d), "--box", "70,2,90,20", "--class", "stain"])
    assert r.exit_code == 65 and "u1.png: box 1 (70, 2, 90, 20) lies outside the image (80 x 60 px)" in r.stderr
    assert load_dataset(d, "gv").n_annotations == 3
    for args, code in ((["--box", "1,2,3"], 64), (["--box", "1,2,3,4"], 64), ([], 64),
                       (["--box", "1,2,3,4", "--class", "a", "--class", "b", "--class", "c", "--box", "5,6,7,8"], 64)):
        r = runner.invoke(app, ["label", str(photo), "--dataset", str(d), *args])
        assert r.exit_code == code, (args, r.output)
    assert runner.invoke(app, ["label", str(tmp_path / "x.png"), "--dataset", str(d), "--good"]).exit_code == 66


def test_label_with_golden_stores_the_unit_in_golden_px(tmp_path, demo_lot, demo_golden_path, demo_golden):
    unit = next(u for u in demo_lot.truth["units"] if u["defects"])
    photo = demo_lot.out_dir / "lot" / unit["image"]
    x1, y1, x2, y2 = unit["defects"][0]["bbox"]
    d = tmp_path / "fb"
    r = runner.invoke(app, ["label", str(photo), "--golden", str(demo_golden_path), "--dataset", str(d),
                            "--box", f"{x1},{y1},{x2},{y2}", "--class", unit["defects"][0]["type"], "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["frame"] == "golden px"
    (s,) = load_dataset(d, "gv").samples
    h, w = demo_golden.reference.shape[:2]
    assert (s.width, s.height) == (w, h) and s.template is not None
    tpl = cv2.cvtColor(cv2.imread(str(s.template)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(tpl, demo_golden.reference)
    assert s.annotations[0].box_xyxy == pytest.approx((x1, y1, x2, y2))
    r = runner.invoke(app, ["label", str(photo), "--golden", str(demo_golden_path), "--dataset", str(d),
                            "--box", f"{x1},{y1},{x2},{y2}", "--class", unit["defects"][0]["type"]])
    assert r.exit_code == 0 and load_dataset(d, "gv").n_annotations == 1  # the same unit again: merged, not duplicated


def test_label_unit_from_the_store(tmp_path, demo_lot, demo_results):
    from goldenvision.store import open_store

    name, res = next(iter(demo_results.items()))
    photo = next(p for p in demo_lot.unit_paths if p.stem == name)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with open_store(db) as store:
        store.record_result(res.to_dict(), file=str(photo), context={"lot": "L7"})
    sha = res.provenance["image_sha256"]
    d = tmp_path / "fb"
    r = runner.invoke(app, ["label", "--db", db, "--unit", sha[:10], "--dataset", str(d), "--box", "10,10,30,30",
                            "--class", "stain"])
    assert r.exit_code == 0, r.output
    (s,) = load_dataset(d, "gv").samples
    assert s.group == "L7" and s.annotations[0].label == "stain"
    r = runner.invoke(app, ["label", "--db", db, "--unit", "0" * 12, "--dataset", str(d), "--good"])
    assert r.exit_code == 66
