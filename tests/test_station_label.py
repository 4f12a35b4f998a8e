"""The feedback loop on the station: an operator labels a judged unit on the operator page and
it lands in a gv dataset (golden px, with the golden as template) that `train --resume` reads."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

import goldenvision as gv
from goldenvision.datasets import load_dataset
from goldenvision.station import OperatorServer, Station, StationConfig
from goldenvision.station.evidence import picture_layout, picture_to_golden
from goldenvision.station.runner import golden_id_of
from goldenvision.store import open_store
from browser import browser, needs_chromium
from synthetic import drop, png_bytes, product


@pytest.fixture(scope="module")
def golden_pkg(tiny_golden_pkg):
    return tiny_golden_pkg


@pytest.fixture(scope="module")
def inspector(golden_pkg) -> gv.Inspector:
    """One Inspector of the golden for this module's stations (it keeps no state between units)."""
    return gv.Inspector(gv.load_golden(golden_pkg))


def _station(inspector, tmp_path, **cfg) -> Station:
    golden = inspector.golden
    store = open_store(f"sqlite:///{tmp_path / 'results.db'}")
    gid = golden_id_of(golden)
    store.record_golden(gid, golden.spec.product, golden.meta.get("package") or {})
    config = StationConfig(watch=tmp_path / "hot", settle_s=0.05, stale_s=0.3, **cfg)
    return Station(inspector, store, gid, config)


def _post(url: str, obj) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def _to_picture(box, shape, width=900):
    x0, f = picture_layout(shape, width=width)
    return [(box[0] + x0) * f, box[1] * f, (box[2] + x0) * f, box[3] * f]


def test_picture_boxes_map_back_to_golden_px():
    shape = (300, 400, 3)
    for box in ((10, 20, 60, 90), (300.5, 5, 399, 299)):
        assert np.allclose(picture_to_golden(_to_picture(box, shape), shape), box)
    x0, f = picture_layout(shape)
    # a box drawn on the golden's half means the same place on the unit
    assert np.allclose(picture_to_golden([10 * f, 20 * f, 60 * f, 90 * f], shape), (10, 20, 60, 90))
    assert x0 == 404 and f == pytest.approx(900 / 804)


def test_operator_labels_a_unit_over_http_and_it_lands_in_the_dataset(inspector, tmp_path):
    ds_dir = tmp_path / "labels"
    st = _station(inspector, tmp_path, label_dataset=ds_dir)
    bad = product(31)
    cv2.circle(bad, (200, 150), 12, (0, 0, 0), -1)
    drop(st.folder.root, "stain.png", png_bytes(bad))
    drop(st.folder.root, "good.png", png_bytes(product(32)))
    assert st.step() == 2
    rows = {r["file"]: r for r in st.store.results()}
    stain = rows["stain.png"]
    assert stain["verdict"] == "fail"
    found = stain["result"]["defects"][0]["bbox"]  # golden px, where the pipeline put the stain
    shape = st.inspector.golden.reference.shape
    server = OperatorServer(st, "127.0.0.1", 0).start()
    try:
        url = server.url
        with urllib.request.urlopen(url + "api/state", timeout=5) as r:
            assert json.load(r)["labelling"] is True
        code, out = _post(url + "api/label", {"image_sha256": stain["image_sha256"], "defects": [
            {"box": _to_picture(found, shape), "class": "stain", "severity": "major"}]})
        assert code == 200, out
        assert out["frame"] == "golden px" and out["boxes_added"] == 1 and out["n_samples"] == 1
        # a false alarm labelled good
        code, out = _post(url + "api/label", {"image_sha256": rows["good.png"]["image_sha256"], "good": True})
        assert code == 200 and out["n_samples"] == 2 and out["n_annotations"] == 1
        with urllib.request.urlopen(url + "api/label/classes", timeout=5) as r:
            assert json.load(r)["classes"] == ["stain"]
        # refused, nothing written: a box off the picture, a bad class, an unknown unit, bad JSON
        for req, want in (({"image_sha256": stain["image_sha256"], "defects": [{"box": [0, 0, 5000, 10], "class": "x"}]}, 400),
                          ({"image_sha256": stain["image_sha256"], "defects": [{"box": _to_picture(found, shape), "class": "<script>"}]}, 400),
                          ({"image_sha256": "0" * 64, "good": True}, 404),
                          ({"image_sha256": "nothex"}, 400),
                          ([1, 2], 400)):
            code, out = _post(url + "api/label", req)
            assert code == want, (req, out)
    finally:
        server.stop()
    ds = load_dataset(ds_dir, "gv")
    assert ds.classes == ("stain",) and ds.n_annotations == 1
    s = next(x for x in ds.samples if x.annotations)
    assert s.template is not None and (s.width, s.height) == (shape[1], shape[0])
    assert np.allclose(s.annotations[0].box_xyxy, found, atol=0.01)
    assert s.annotations[0].severity == "major"
    # the stored unit is in golden px: the stain is dark inside the labelled box, not in the template
    img = cv2.imread(str(s.image))[..., ::-1]
    tpl = cv2.imread(str(s.template))[..., ::-1]
    x1, y1, x2, y2 = (int(v) for v in found)
    assert img[y1:y2, x1:x2].mean() < tpl[y1:y2, x1:x2].mean() - 20


def test_labelling_off_says_how_to_turn_it_on(inspector, tmp_path):
    st = _station(inspector, tmp_path)
    drop(st.folder.root, "u.png", png_bytes(product(33)))
    st.step()
    server = OperatorServer(st, "127.0.0.1", 0).start()
    try:
        code, out = _post(server.url + "api/label", {"image_sha256": st.recent[0].image_sha256, "good": True})
    finally:
        server.stop()
    assert code == 409 and "--label-dataset" in out["error"]


@needs_chromium
def test_operator_drags_a_box_on_the_page_in_headless_chromium(inspector, tmp_path):
    pytest.importorskip("selenium", reason="selenium (test extra) is not installed")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ds_dir = tmp_path / "labels"
    st = _station(inspector, tmp_path, label_dataset=ds_dir)
    bad = product(34)
    cv2.circle(bad, (200, 150), 12, (0, 0, 0), -1)
    drop(st.folder.root, "stain.png", png_bytes(bad))
    st.step()
    found = st.store.results()[0]["result"]["defects"][0]["bbox"]
    shape = st.inspector.golden.reference.shape
    server = OperatorServer(st, "127.0.0.1", 0).start()
    drv = browser(tmp_path, size="1400,1000")
    try:
        drv.get(server.url)
        wait = WebDriverWait(drv, 90, poll_frequency=0.05)  # not the default 0.5 s of idle time per unmet wait
        wait.until(lambda d: d.find_element(By.ID, "labelling").is_displayed()
                   and d.execute_script("return document.getElementById('unit').naturalWidth") > 0)
        img = drv.find_element(By.ID, "unit")
        k = img.size["width"] / drv.execute_script("return document.getElementById('unit').naturalWidth")
        p1, p2 = _to_picture(found, shape)[:2], _to_picture(found, shape)[2:]
        # ActionChains offsets are from the element's centre, in CSS px
        cx, cy = img.size["width"] / 2, img.size["height"] / 2
        drv.find_element(By.ID, "l-class").send_keys("stain")
        ActionChains(drv).move_to_element_with_offset(img, int(p1[0] * k - cx), int(p1[1] * k - cy)).click_and_hold() \
            .move_to_element_with_offset(img, int(p2[0] * k - cx), int(p2[1] * k - cy)).release().perform()
        assert drv.find_element(By.ID, "l-boxes").text == "1 box"
        drv.find_element(By.ID, "l-save").click()
        wait.until(lambda d: d.find_element(By.ID, "l-msg").text.startswith("saved"))
        drv.save_screenshot(str(tmp_path / "label.png"))
    finally:
        drv.quit()
        server.stop()
    ds = load_dataset(ds_dir, "gv")
    (a,) = ds.samples[0].annotations
    assert a.label == "stain"
    # the dragged box lands on the stain to within the page's pixel rounding (a few golden px)
    assert np.allclose(a.box_xyxy, found, atol=4.0), (a.box_xyxy, found)
