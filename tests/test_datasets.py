"""The internal dataset format, the DeepPCB and gv importers, the validator and the split."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from goldenvision.datasets import (
    DEEPPCB_CLASSES,
    Annotation,
    Dataset,
    DatasetError,
    Sample,
    add_samples,
    load_dataset,
    read_sample,
    save_dataset,
)
from goldenvision.errors import InputNotFoundError, OutputExistsError


def write_image(path: Path, w: int = 64, h: int = 48, seed: int = 0, ext: str | None = None) -> Path:
    """A small random image (PNG unless the suffix says otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext or path.suffix, img)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def make_deeppcb(root: Path, *, n: int = 3, sep: str = " ") -> Path:
    """A DeepPCB-like layout: trainval.txt, groupN/N/<id>_test.jpg + _temp.jpg, groupN/N_not/<id>.txt."""
    lines = []
    for i in range(n):
        g = "00041" if i < 2 else "12000"
        sid = f"{g}{i:03d}"
        write_image(root / f"group{g}/{g}/{sid}_test.jpg", 64, 64, seed=i)
        write_image(root / f"group{g}/{g}/{sid}_temp.jpg", 64, 64, seed=100 + i)
        ann = root / f"group{g}/{g}_not/{sid}.txt"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(sep.join(["2", "3", "20", "30", str(i % 6 + 1)]) + "\n"
                       + sep.join(["30", "30", "63", "64", "6"]) + "\n")
        lines.append(f"group{g}/{g}/{sid}.jpg group{g}/{g}_not/{sid}.txt")
    (root / "trainval.txt").write_text("\n".join(lines))  # no final newline, as in the real copy
    return root


# ----------------------------------------------------------------------------- DeepPCB
@pytest.mark.parametrize("sep", [" ", ","])
def test_deeppcb_reads_pairs_templates_groups_and_classes(tmp_path, sep):
    ds = load_dataset(make_deeppcb(tmp_path, sep=sep), "deeppcb")
    assert ds.classes == DEEPPCB_CLASSES
    assert len(ds.samples) == 3 and ds.n_annotations == 6
    s = ds.samples[0]
    assert s.image.name == "00041000_test.jpg" and s.template is not None and s.template.name == "00041000_temp.jpg"
    assert (s.width, s.height) == (64, 64) and s.group == "group00041"
    assert s.annotations[0] == Annotation((2.0, 3.0, 20.0, 30.0), "open")
    assert [a.label for a in ds.samples[2].annotations] == ["mousebite", "pin-hole"]
    assert ds.class_counts() == {"open": 1, "short": 1, "mousebite": 1, "spur": 0, "copper": 0, "pin-hole": 3}
    assert s.source.endswith("trainval.txt:1")


def test_deeppcb_unparsable_line_names_file_and_line(tmp_path):
    root = make_deeppcb(tmp_path)
    ann = root / "group00041/00041_not/00041001.txt"
    ann.write_text("2 3 20 30 1\n\n4 5 x 9 2\n")
    with pytest.raises(DatasetError) as e:
        load_dataset(root, "deeppcb")
    assert e.value.file == str(ann.resolve()) and e.value.line == 3
    assert str(e.value).startswith(f"{ann.resolve()}:3: ")


def test_deeppcb_unknown_type_is_an_unknown_class(tmp_path):
    root = make_deeppcb(tmp_path)
    (root / "group00041/00041_not/00041000.txt").write_text("2 3 20 30 7\n")
    with pytest.raises(DatasetError, match=r"00041000\.txt:1: unknown class: defect type 7"):
        load_dataset(root, "deeppcb")


def test_box_outside_image_is_refused_with_file_line_and_size(tmp_path):
    root = make_deeppcb(tmp_path)
    (root / "group00041/00041_not/00041000.txt").write_text("2 3 20 30 1\n40 10 66 30 2\n")
    with pytest.raises(DatasetError, match=r"00041000\.txt:2: box \(40, 10, 66, 30\) lies outside the 64x64 image"):
        load_dataset(root, "deeppcb")


def test_half_pixel_rounding_is_accepted_and_clipped(tmp_path):
    root = make_deeppcb(tmp_path, n=1)
    (root / "group00041/00041_not/00041000.txt").write_text("-0.5 3 64.5 30 1\n")
    ds = load_dataset(root, "deeppcb")
    assert ds.samples[0].annotations[0].box_xyxy == (0.0, 3.0, 64.0, 30.0)


def test_empty_box_is_refused(tmp_path):
    root = make_deeppcb(tmp_path, n=1)
    (root / "group00041/00041_not/00041000.txt").write_text("20 3 20 30 1\n")
    with pytest.raises(DatasetError, match=r"00041000\.txt:1: box \(20, 3, 20, 30\) is empty or negative"):
        load_dataset(root, "deeppcb")


def test_missing_image_names_the_list_line(tmp_path):
    root = make_deeppcb(tmp_path)
    (root / "group00041/00041/00041001_temp.jpg").unlink()
    with pytest.raises(DatasetError) as e:
        load_dataset(root, "deeppcb")
    assert e.value.line == 2 and e.value.file.endswith("trainval.txt")
    assert "template image group00041/00041/00041001_temp.jpg does not exist" in str(e.value)


def test_truncated_image_is_refused_with_the_file(tmp_path):
    root = make_deeppcb(tmp_path)
    img = root / "group12000/12000/12000002_test.jpg"
    data = img.read_bytes()
    img.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"12000002_test\.jpg: corrupt or truncated JPEG"):
        load_dataset(root, "deeppcb")
    assert load_dataset(root, "deeppcb", decode=False).samples[2].image == img.resolve()  # header-only read accepts it


def test_deeppcb_class_map_must_match(tmp_path):
    root = make_deeppcb(tmp_path)
    with pytest.raises(DatasetError, match=r"trainval\.txt: class map does not match"):
        load_dataset(root, "deeppcb", classes=["open", "short"])
    assert load_dataset(root, "deeppcb", classes=list(DEEPPCB_CLASSES)).classes == DEEPPCB_CLASSES


def test_missing_dataset_is_input_not_found(tmp_path):
    with pytest.raises(InputNotFoundError):
        load_dataset(tmp_path / "nope", "deeppcb")
    with pytest.raises(DatasetError, match="format='pascal'"):
        load_dataset(tmp_path, "pascal")


# ----------------------------------------------------------------------------- gv
def test_gv_round_trip_keeps_content_and_hash(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path / "src"), "deeppcb")
    out = save_dataset(ds, tmp_path / "gv")
    assert out == tmp_path / "gv" / "dataset.json"
    back = load_dataset(tmp_path / "gv", "gv")
    assert back.classes == ds.classes and back.source_format == "gv"
    assert [s.annotations for s in back.samples] == [s.annotations for s in ds.samples]
    assert [s.group for s in back.samples] == [s.group for s in ds.samples]
    assert all(s.image.parent == (tmp_path / "gv" / "images").resolve() for s in back.samples)
    assert back.samples[0].origin == ds.samples[0].source
    assert back.content_sha256() == ds.content_sha256()
    with pytest.raises(OutputExistsError):
        save_dataset(ds, tmp_path / "gv")
    save_dataset(back, tmp_path / "gv", force=True)  # saving onto itself keeps the images
    assert load_dataset(tmp_path / "gv", "gv").content_sha256() == ds.content_sha256()


def test_gv_without_copy_refers_to_images_in_place(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path / "src"), "deeppcb")
    save_dataset(ds, tmp_path / "gv", copy_images=False)
    assert not (tmp_path / "gv" / "images").exists()
    assert load_dataset(tmp_path / "gv", "gv").samples[1].image == ds.samples[1].image


def test_gv_errors_name_the_json_path(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path / "src"), "deeppcb")
    f = save_dataset(ds, tmp_path / "gv")
    doc = json.loads(f.read_text())
    doc["samples"][1]["annotations"][0]["label"] = "stain"
    f.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"dataset\.json: samples\[1\]\.annotations\[0\]: unknown class 'stain'"):
        load_dataset(tmp_path / "gv", "gv")
    doc["samples"][1]["annotations"][0]["label"] = "open"
    doc["samples"][2]["width"] = 65
    f.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"dataset\.json: samples\[2\]: states 65x64, the image .* is 64x64"):
        load_dataset(tmp_path / "gv", "gv")


def test_content_hash_ignores_listing_order_but_not_content(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path), "deeppcb")
    h = ds.content_sha256()
    rev = Dataset(ds.classes, ds.samples[::-1], ds.source_format, ds.root)
    assert rev.content_sha256() == h
    s0 = ds.samples[0]
    moved = Sample(s0.image, s0.template, (Annotation((2.0, 3.0, 21.0, 30.0), "open"),) + s0.annotations[1:],
                   s0.width, s0.height, s0.source, s0.group)
    assert Dataset(ds.classes, (moved,) + ds.samples[1:], "deeppcb", ds.root).content_sha256() != h
    assert Dataset(ds.classes[::-1], ds.samples, "deeppcb", ds.root).content_sha256() != h


def test_split_is_deterministic_disjoint_and_recorded(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path, n=10), "deeppcb")
    tr, va, rec = ds.split(n_val=3, seed=7)
    tr2, va2, rec2 = Dataset(ds.classes, ds.samples[::-1], "deeppcb", ds.root).split(n_val=3, seed=7)
    assert rec == {**rec2} and [s.image for s in va.samples] == [s.image for s in va2.samples]
    assert len(tr.samples) == 7 and len(va.samples) == 3 and rec["n_val"] == 3
    assert not {s.image for s in tr.samples} & {s.image for s in va.samples}
    assert rec["val_sha256"] == va.content_sha256() and rec["dataset_sha256"] == ds.content_sha256()
    assert {d["image"] for d in rec["val"]} == {s.image.relative_to(ds.root).as_posix() for s in va.samples}
    json.dumps(rec)
    others = {tuple(d["image"] for d in ds.split(n_val=3, seed=s)[2]["val"]) for s in range(5)}
    assert len(others) > 1  # the seed matters
    assert ds.split(val_fraction=0.3, seed=7)[2]["val"] == rec["val"]
    _, gva, grec = ds.split(n_val=1, seed=0, by_group=True)
    assert len({s.group for s in gva.samples}) == 1 and grec["val_groups"] == [gva.samples[0].group]
    with pytest.raises(DatasetError, match="exactly one of val_fraction and n_val"):
        ds.split(seed=0)
    with pytest.raises(DatasetError, match="n_val must leave"):
        ds.split(n_val=10)


def test_add_samples_merges_by_image_hash_and_keeps_class_indices(tmp_path):
    img = write_image(tmp_path / "u1.png", 80, 60, seed=3)
    s = Sample(img.resolve(), None, (Annotation((1, 2, 10, 20), "stain", "major"),), 80, 60, "label")
    ds = add_samples(tmp_path / "fb", [s], classes=["stain"])
    assert ds.classes == ("stain",) and ds.n_annotations == 1
    s2 = Sample(img.resolve(), None, (Annotation((30, 2, 40, 20), "scratch"),), 80, 60, "label")
    ds = add_samples(tmp_path / "fb", [s, s2], classes=["scratch"])
    assert ds.classes == ("stain", "scratch") and len(ds.samples) == 1 and ds.n_annotations == 2
    ds = add_samples(tmp_path / "fb", [s2], classes=["scratch"], replace=True)
    assert [a.label for a in ds.samples[0].annotations] == ["scratch"]
    bad = Sample(img.resolve(), None, (Annotation((30, 2, 90, 20), "scratch"),), 80, 60, "label")
    with pytest.raises(DatasetError, match="lies outside the 80x60 image"):
        add_samples(tmp_path / "fb", [bad], classes=["scratch"])
    assert load_dataset(tmp_path / "fb", "gv").n_annotations == 1  # a refused add leaves the dataset as it was


def test_read_sample_and_summary(tmp_path):
    ds = load_dataset(make_deeppcb(tmp_path, n=2), "deeppcb")
    img, tpl = read_sample(ds.samples[1])
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and tpl is not None and tpl.shape == (64, 64, 3)
    assert not np.array_equal(img, tpl)
    s = ds.summary()
    assert s["n_samples"] == 2 and s["n_with_template"] == 2 and s["n_annotations"] == 4
    assert s["class_counts"]["pin-hole"] == 2
    short = Sample(ds.samples[0].image, None, (), 63, 64, "x.txt:1")
    with pytest.raises(DatasetError, match=r"x\.txt:1: .*reads as 64x64, the sample states 63x64"):
        read_sample(short)
