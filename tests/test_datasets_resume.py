"""Resuming a split (torch-free): recorded sides stay, new samples join by a per-sample rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from goldenvision.datasets import Annotation, Dataset, Sample
from goldenvision.datasets.core import DatasetError


def _samples(root: Path, ids: range, group_of=lambda i: None) -> list[Sample]:
    out = []
    for i in ids:
        img = np.full((16, 16, 3), i % 251, np.uint8)
        img[0, 0] = (i // 251, 7, 9)
        p = root / f"u{i}.png"
        Image.fromarray(img).save(p)
        out.append(Sample(p, None, (Annotation((2, 2, 8, 8), "spot"),), 16, 16, f"u{i}", group=group_of(i)))
    return out


def test_resume_keeps_sides_and_splits_new_samples_deterministically(tmp_path: Path):
    first = _samples(tmp_path, range(40))
    ds = Dataset(("spot",), tuple(first), "gv", tmp_path)
    tr, va, rec = ds.split(n_val=10, seed=3)
    grown = Dataset(("spot",), tuple(first + _samples(tmp_path, range(40, 240))), "gv", tmp_path)
    tr2, va2, rec2 = grown.resume_split(rec)
    old_val = {e["image"] for e in rec["val"]}
    old_train = {e["image"] for e in rec["train"]}
    val2 = {e["image"] for e in rec2["val"]}
    train2 = {e["image"] for e in rec2["train"]}
    assert old_val <= val2 and old_train <= train2 and not (val2 & train2)
    assert rec2["new_train"] + rec2["new_val"] == 200 and rec2["missing"] == []
    assert rec2["n_val"] == 10 + rec2["new_val"] and len(va2.samples) == rec2["n_val"]
    assert 25 <= rec2["new_val"] <= 75  # fraction 10/40 of 200 new samples, drawn per sample
    # Same rule whatever the listing order; the grown record resumes onto itself with nothing new.
    shuffled = Dataset(("spot",), tuple(reversed(grown.samples)), "gv", tmp_path)
    assert shuffled.resume_split(rec)[2]["val"] == rec2["val"]
    again = grown.resume_split(rec2)[2]
    assert again["new_train"] == again["new_val"] == 0 and again["val_sha256"] == rec2["val_sha256"]


def test_resume_relabelled_validation_image_stays_in_validation(tmp_path: Path):
    first = _samples(tmp_path, range(12))
    _, _, rec = Dataset(("spot",), tuple(first), "gv", tmp_path).split(n_val=3, seed=0)
    v = next(s for s in first if s.image.name == rec["val"][0]["image"])
    relabelled = [s if s is not v else Sample(v.image, None, (Annotation((1, 1, 9, 9), "spot"),), 16, 16, v.source)
                  for s in first]
    _, va, rec2 = Dataset(("spot",), tuple(relabelled), "gv", tmp_path).resume_split(rec)
    assert v.image in {s.image for s in va.samples} and rec2["new_train"] == rec2["new_val"] == 0
    # A removed sample is reported, not silently forgotten.
    _, _, rec3 = Dataset(("spot",), tuple(first[1:]), "gv", tmp_path).resume_split(rec)
    assert rec3["missing"] == [first[0].image.name]


def test_resume_by_group_keeps_groups_whole(tmp_path: Path):
    first = _samples(tmp_path, range(30), group_of=lambda i: f"g{i % 6}")
    _, _, rec = Dataset(("spot",), tuple(first), "gv", tmp_path).split(n_val=8, seed=1, by_group=True)
    more = _samples(tmp_path, range(30, 90), group_of=lambda i: f"g{i % 12}")
    tr, va, rec2 = Dataset(("spot",), tuple(first + more), "gv", tmp_path).resume_split(rec)
    assert not ({s.group for s in tr.samples} & {s.group for s in va.samples})
    assert set(rec["val_groups"]) <= set(rec2["val_groups"])


def test_resume_refuses_a_record_that_is_not_a_split(tmp_path: Path):
    ds = Dataset(("spot",), tuple(_samples(tmp_path, range(4))), "gv", tmp_path)
    with pytest.raises(DatasetError, match="not a split record"):
        ds.resume_split({"train": []})
