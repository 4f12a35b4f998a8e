"""COCO, Pascal VOC, YOLO and Label Studio importers, each on a small dataset made here, and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from goldenvision.datasets import Annotation, DatasetError, load_dataset, save_dataset


def write_image(path: Path, w: int, h: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# ----------------------------------------------------------------------------- COCO
def make_coco(root: Path) -> Path:
    write_image(root / "images" / "a.png", 100, 80, seed=1)
    write_image(root / "images" / "b.png", 100, 80, seed=2)
    doc = {
        "images": [{"id": 7, "file_name": "a.png", "width": 100, "height": 80},
                   {"id": 9, "file_name": "images/b.png", "width": 100, "height": 80}],
        "categories": [{"id": 2, "name": "stain"}, {"id": 1, "name": "scratch"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 5], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [50, 40, 20, 20],
             "segmentation": [[50, 40, 70, 40, 70, 60, 50, 60]], "attributes": {"severity": "major"}},
        ],
    }
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def _edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_coco_boxes_polygons_categories_and_empty_images(tmp_path):
    ds = load_dataset(make_coco(tmp_path), "coco")
    assert ds.classes == ("scratch", "stain")  # category id order
    a, b = ds.samples
    assert a.image.name == "a.png" and (a.width, a.height) == (100, 80) and len(b.annotations) == 0
    assert a.annotations[0] == Annotation((10.0, 20.0, 40.0, 25.0), "scratch")
    assert a.annotations[1] == Annotation((50.0, 40.0, 70.0, 60.0), "stain", "major",
                                          ((50.0, 40.0), (70.0, 40.0), (70.0, 60.0), (50.0, 60.0)))


def test_coco_annotation_of_an_unknown_image_is_refused(tmp_path):
    f = make_coco(tmp_path) / "annotations.json"
    _edit_json(f, lambda d: d["annotations"][1].update(image_id=8))
    with pytest.raises(DatasetError, match=r"annotations\.json: annotations\[1\]\.image_id: image_id 8 is not in images"):
        load_dataset(tmp_path, "coco")


def test_coco_unknown_category_stated_size_and_class_map(tmp_path):
    f = make_coco(tmp_path) / "annotations.json"
    with pytest.raises(DatasetError, match=r"annotations\.json: categories: class map does not match"):
        load_dataset(f, "coco", classes=["stain", "scratch"])
    _edit_json(f, lambda d: d["images"][1].update(width=101))
    with pytest.raises(DatasetError, match=r"annotations\.json: images\[1\]: states the image size 101x80"):
        load_dataset(f, "coco")
    _edit_json(f, lambda d: (d["images"][1].update(width=100), d["annotations"][0].update(category_id=3)))
    with pytest.raises(DatasetError, match=r"annotations\[0\]\.category_id: unknown class: category_id 3"):
        load_dataset(f, "coco")


def test_coco_missing_image_and_box_outside(tmp_path):
    f = make_coco(tmp_path) / "annotations.json"
    _edit_json(f, lambda d: d["annotations"][0].update(bbox=[90, 20, 30, 5]))
    with pytest.raises(DatasetError, match=r"annotations\[0\]: box \(90, 20, 120, 25\) lies outside the 100x80 image"):
        load_dataset(f, "coco")
    (tmp_path / "images" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"images\[1\]\.file_name: image images/b\.png does not exist"):
        load_dataset(f, "coco")


# ----------------------------------------------------------------------------- VOC
VOC_XML = """<annotation>
  <folder>JPEGImages</folder>
  <filename>{name}</filename>
  <size><width>{w}</width><height>80</height><depth>3</depth></size>
  <object>
    <name>scratch</name>
    <difficult>0</difficult>
    <bndbox><xmin>10</xmin><ymin>20</ymin><xmax>40</xmax><ymax>25</ymax></bndbox>
  </object>
  <object>
    <name>{second}</name>
    <severity>minor</severity>
    <bndbox><xmin>50</xmin><ymin>40</ymin><xmax>{xmax}</xmax><ymax>60</ymax></bndbox>
  </object>
</annotation>
"""


def make_voc(root: Path, *, side_by_side: bool = False, second: str = "stain", xmax: int = 70, w: int = 100) -> Path:
    img_dir, xml_dir = (root, root) if side_by_side else (root / "JPEGImages", root / "Annotations")
    write_image(img_dir / "u1.jpg", 100, 80, seed=4)
    xml_dir.mkdir(parents=True, exist_ok=True)
    (xml_dir / "u1.xml").write_text(VOC_XML.format(name="u1.jpg", second=second, xmax=xmax, w=w))
    return root


@pytest.mark.parametrize("side_by_side", [False, True])
def test_voc_both_layouts(tmp_path, side_by_side):
    ds = load_dataset(make_voc(tmp_path, side_by_side=side_by_side), "voc")
    assert ds.classes == ("scratch", "stain")
    (s,) = ds.samples
    assert s.image.name == "u1.jpg"
    assert s.annotations == (Annotation((10.0, 20.0, 40.0, 25.0), "scratch"),
                             Annotation((50.0, 40.0, 70.0, 60.0), "stain", "minor"))
    assert load_dataset(tmp_path, "voc", classes=["stain", "scratch", "dent"]).classes == ("stain", "scratch", "dent")


def test_voc_errors_name_the_xml_line(tmp_path):
    make_voc(tmp_path, xmax=120)
    xml = (tmp_path / "Annotations" / "u1.xml").resolve()
    with pytest.raises(DatasetError, match=rf"{xml}:13: box \(50, 40, 120, 60\) lies outside the 100x80 image"):
        load_dataset(tmp_path, "voc")
    make_voc(tmp_path, second="dent")
    with pytest.raises(DatasetError, match=rf"{xml}:10: unknown class 'dent'; expected one of \['scratch', 'stain'\]"):
        load_dataset(tmp_path, "voc", classes=["scratch", "stain"])
    make_voc(tmp_path, w=99)
    with pytest.raises(DatasetError, match=rf"{xml}:4: states the image size 99x80"):
        load_dataset(tmp_path, "voc")
    (tmp_path / "Annotations" / "u1.xml").write_text("<annotation><object></annotation>")
    with pytest.raises(DatasetError, match=rf"{xml}:1: not well-formed XML"):
        load_dataset(tmp_path, "voc")


def test_voc_refuses_entities(tmp_path):
    make_voc(tmp_path)
    (tmp_path / "Annotations" / "u1.xml").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "xxxxxxxx">]>\n<annotation>&x;</annotation>')
    with pytest.raises(DatasetError, match=r"u1\.xml:2: XML with a DTD or entity declarations is refused"):
        load_dataset(tmp_path, "voc")


def test_voc_missing_image(tmp_path):
    make_voc(tmp_path)
    (tmp_path / "JPEGImages" / "u1.jpg").unlink()
    with pytest.raises(DatasetError, match=r"u1\.xml:3: image .*u1\.jpg does not exist"):
        load_dataset(tmp_path, "voc")


# ----------------------------------------------------------------------------- YOLO
def make_yolo(root: Path, *, yaml_names: bool = False) -> Path:
    write_image(root / "images" / "train" / "a.png", 100, 80, seed=5)
    write_image(root / "images" / "train" / "b.png", 100, 80, seed=6)
    lab = root / "labels" / "train"
    lab.mkdir(parents=True)
    (lab / "a.txt").write_text("1 0.25 0.28125 0.3 0.0625\n\n0 0.1 0.1 0.3 0.1 0.3 0.2 0.1 0.2\n")
    if yaml_names:
        (root / "data.yaml").write_text("path: .\ntrain: images/train\nnames:\n  0: scratch\n  1: stain\n")
    else:
        (root / "classes.txt").write_text("scratch\nstain\n")
    return root


@pytest.mark.parametrize("yaml_names", [False, True])
def test_yolo_boxes_segments_and_images_without_labels(tmp_path, yaml_names):
    ds = load_dataset(make_yolo(tmp_path, yaml_names=yaml_names), "yolo")
    assert ds.classes == ("scratch", "stain")
    a, b = ds.samples
    assert b.annotations == ()
    box = a.annotations[0]
    assert box.label == "stain" and box.box_xyxy == pytest.approx((10.0, 20.0, 40.0, 25.0))
    seg = a.annotations[1]
    assert seg.label == "scratch" and seg.box_xyxy == pytest.approx((10.0, 8.0, 30.0, 16.0))
    assert seg.polygon is not None and len(seg.polygon) == 4


def test_yolo_bad_lines_name_the_line(tmp_path):
    make_yolo(tmp_path)
    lab = (tmp_path / "labels" / "train" / "a.txt").resolve()
    lab.write_text("1 0.25 0.28125 0.3 0.0625\n1 0.5 0.5 0.2\n")
    with pytest.raises(DatasetError, match=rf"{lab}:2: expected 'class cx cy w h'"):
        load_dataset(tmp_path, "yolo")
    lab.write_text("2 0.25 0.28 0.3 0.06\n")
    with pytest.raises(DatasetError, match=rf"{lab}:1: unknown class id 2; the class list has 2"):
        load_dataset(tmp_path, "yolo")
    lab.write_text("0 0.95 0.5 0.2 0.1\n")
    with pytest.raises(DatasetError, match=rf"{lab}:1: box \(85, 36, 105, 44\) lies outside the 100x80 image"):
        load_dataset(tmp_path, "yolo")


def test_yolo_label_without_image_and_class_map(tmp_path):
    make_yolo(tmp_path)
    with pytest.raises(DatasetError, match=r"classes\.txt: class map does not match"):
        load_dataset(tmp_path, "yolo", classes=["scratch"])
    (tmp_path / "images" / "train" / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"a\.txt: label file has no image"):
        load_dataset(tmp_path, "yolo")


# ----------------------------------------------------------------------------- Label Studio
def make_labelstudio(root: Path) -> Path:
    write_image(root / "images" / "u7.png", 200, 100, seed=7)
    write_image(root / "u8.png", 200, 100, seed=8)
    tasks = [
        {"id": 1, "data": {"image": "/data/upload/3/1a2b3c4d-u7.png"},
         "annotations": [
             {"was_cancelled": True, "result": []},
             {"result": [
                 {"id": "r1", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                  "original_width": 200, "original_height": 100,
                  "value": {"x": 10, "y": 20, "width": 25, "height": 30, "rotation": 0, "rectanglelabels": ["stain"]}},
                 {"id": "r1", "type": "choices", "from_name": "severity", "to_name": "image",
                  "value": {"choices": ["Critical"]}},
                 {"id": "r2", "type": "polygonlabels", "from_name": "poly", "to_name": "image",
                  "original_width": 200, "original_height": 100,
                  "value": {"points": [[50, 10], [60, 10], [55, 50]], "polygonlabels": ["scratch"]}},
             ]}]},
        {"id": 2, "data": {"image": "/data/local-files/?d=u8.png"}, "annotations": [{"result": []}]},
    ]
    (root / "export.json").write_text(json.dumps(tasks))
    return root


def test_labelstudio_percent_coordinates_polygons_and_severity(tmp_path):
    ds = load_dataset(make_labelstudio(tmp_path), "labelstudio")
    assert ds.classes == ("scratch", "stain")
    a, b = ds.samples
    assert a.image.name == "u7.png" and b.image.name == "u8.png" and b.annotations == ()
    rect, poly = a.annotations
    assert rect == Annotation((20.0, 20.0, 70.0, 50.0), "stain", "critical")
    assert poly.label == "scratch" and poly.box_xyxy == (100.0, 10.0, 120.0, 50.0)
    assert poly.polygon == ((100.0, 10.0), (120.0, 10.0), (110.0, 50.0))


def test_labelstudio_rotated_rectangle_becomes_its_polygon(tmp_path):
    f = make_labelstudio(tmp_path) / "export.json"
    _edit_json(f, lambda d: d[0]["annotations"][1]["result"][0]["value"].update(rotation=90, x=50))
    r = load_dataset(f, "labelstudio").samples[0].annotations[0]
    assert r.box_xyxy == pytest.approx((70.0, 20.0, 100.0, 70.0))  # 50 px wide, 30 px high, turned about (100, 20)


def test_labelstudio_refusals_name_the_json_path(tmp_path):
    f = make_labelstudio(tmp_path) / "export.json"
    _edit_json(f, lambda d: d[0]["annotations"][1]["result"][0].update(original_width=201))
    with pytest.raises(DatasetError, match=r"export\.json: \[0\]\.annotations\[1\]\.result\[0\]: states the image size 201x100"):
        load_dataset(f, "labelstudio")
    _edit_json(f, lambda d: d[0]["annotations"][1]["result"][0].update(original_width=200))
    with pytest.raises(DatasetError, match=r"result\[2\]\.value\.polygonlabels: unknown class 'scratch'"):
        load_dataset(f, "labelstudio", classes=["stain"])
    _edit_json(f, lambda d: d[1]["annotations"].append({"result": []}))
    with pytest.raises(DatasetError, match=r"\[1\]\.annotations: 2 completed annotations of one task"):
        load_dataset(f, "labelstudio")
    _edit_json(f, lambda d: (d[1]["annotations"].pop(), d[0]["annotations"][1]["result"][0]["value"].update(x=90)))
    with pytest.raises(DatasetError, match=r"result\[0\]: box \(180, 20, 230, 50\) lies outside the 200x100 image"):
        load_dataset(f, "labelstudio")
    (tmp_path / "u8.png").unlink()
    with pytest.raises(DatasetError, match=r"\[1\]\.data\.image: image /data/local-files/\?d=u8\.png does not exist"):
        load_dataset(f, "labelstudio")


def test_every_importer_round_trips_through_gv(tmp_path):
    for fmt, maker in (("coco", make_coco), ("voc", make_voc), ("yolo", make_yolo), ("labelstudio", make_labelstudio)):
        ds = load_dataset(maker(tmp_path / fmt), fmt)
        save_dataset(ds, tmp_path / f"{fmt}-gv")
        back = load_dataset(tmp_path / f"{fmt}-gv", "gv")
        assert back.content_sha256() == ds.content_sha256(), fmt
        assert back.class_counts() == ds.class_counts()


def test_truncated_png_is_refused_with_the_file(tmp_path):
    make_coco(tmp_path)
    png = tmp_path / "images" / "b.png"
    data = png.read_bytes()
    png.write_bytes(data[: len(data) - 200])
    with pytest.raises(DatasetError, match=rf"{png.resolve()}: corrupt or truncated PNG image"):
        load_dataset(tmp_path, "coco")
