"""The demo generator's labelled defects as a gv dataset, in the pipeline's golden px."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from goldenvision.datasets import load_dataset
from goldenvision.datasets.demo import demo_classes, demo_dataset
from goldenvision.errors import OutputExistsError

DEMO_SEED, DEMO_SIZE = 3, 0.4  # as the session's demo lot (tests/conftest.py), whose golden is compared here


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_demo_dataset_boxes_match_the_truth(tmp_path):
    ds = demo_dataset(tmp_path / "d", n_units=8, seed=1, size=0.2)  # units 1 and 2: a dimension fault, a scratch
    truth = json.loads((tmp_path / "d" / "source" / "lot" / "truth.json").read_text())
    assert ds.classes == demo_classes("wallet") == ("scratch", "skipped_stitch", "stain", "missing_print")
    assert len(ds.samples) == 8
    assert ds.n_annotations == sum(len(u["defects"]) for u in truth["units"]) > 0
    for s, u in zip(ds.samples, truth["units"]):
        assert (s.width, s.height) == (320, 240)  # the station frame at size 0.2 (golden px)
        assert s.template is not None and s.template.parent == s.image.parent
        assert [a.label for a in s.annotations] == [d["type"] for d in u["defects"]]
        for a, d in zip(s.annotations, u["defects"]):
            assert a.box_xyxy == pytest.approx(d["bbox"]) and a.severity == "major"
    assert load_dataset(tmp_path / "d", "gv").content_sha256() == ds.content_sha256()
    with pytest.raises(OutputExistsError):
        demo_dataset(tmp_path / "d", n_units=8, seed=1, size=0.2)


def test_demo_dataset_frame_is_the_sealed_golden_frame(tmp_path, demo_golden, demo_inspector):
    """The template equals the reference of a golden sealed from the same captures, and a unit
    is where the pipeline's own registration puts it (within a grey level or two)."""
    ds = demo_dataset(tmp_path / "d", n_units=2, seed=DEMO_SEED, size=DEMO_SIZE)
    s = ds.samples[0]
    ref = demo_golden.reference
    tpl = _rgb(s.template)
    assert tpl.shape == ref.shape
    diff = np.abs(tpl.astype(int) - ref.astype(int))
    assert diff.mean() < 0.2 and diff.max() <= 4
    ev = demo_inspector.evidence(str(tmp_path / "d" / "source" / "lot" / "unit_000.png"))
    valid = ev["valid"] & (_rgb(s.image).sum(axis=2) > 0)
    d2 = np.abs(ev["warped"].astype(int) - _rgb(s.image).astype(int))[valid]
    assert np.median(d2) <= 1 and d2.mean() < 1.5  # measured 0 and 0.93; one px off reads 1 and 2.6


def test_demo_defect_dataset_gives_every_zoo_class_boxes_and_lot_groups(tmp_path):
    from collections import Counter

    from goldenvision.datasets.demo import demo_defect_dataset
    from goldenvision.errors import OutputExistsError, SpecError

    ds = demo_defect_dataset(tmp_path / "d", families=("part", "hardware"), per_class=2, n_seeds=2, size=0.2)
    assert ds.classes == ("burr", "short_shot", "hole_position", "missing_tooth", "bent_slider")
    counts = Counter(a.label for s in ds.samples for a in s.annotations)
    assert counts == {c: 2 for c in ds.classes}
    assert {s.group for s in ds.samples} == {"part-seed0", "part-seed1", "hardware-seed0", "hardware-seed1"}
    assert any(not s.annotations for s in ds.samples)  # good units as negatives
    for s in ds.samples:
        assert s.image.suffix == ".jpg" and s.template is not None and s.template.is_file()
        for a in s.annotations:
            x1, y1, x2, y2 = a.box_xyxy
            assert 0 <= x1 < x2 <= s.width and 0 <= y1 < y2 <= s.height
    tr, va, rec = ds.split(n_val=3, seed=0, by_group=True)
    assert not ({s.group for s in tr.samples} & {s.group for s in va.samples})
    with pytest.raises(OutputExistsError):
        demo_defect_dataset(tmp_path / "d", families=("part",), per_class=1, n_seeds=1, size=0.2)
    with pytest.raises(SpecError, match="family"):
        demo_defect_dataset(tmp_path / "e", families=("wallet-x",), per_class=1)
