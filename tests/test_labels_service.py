"""Labelling uploaded units in the upload service: the API (roles, scope, bad requests) and a
box dragged on the lot page in headless Chromium. Labels land in the product's gv dataset."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from goldenvision.datasets import load_dataset
from goldenvision.service import create_app, new_key
from goldenvision.station.evidence import picture_layout
from browser import browser, needs_chromium, serve
from synthetic import SPEC, defective, png_bytes, product


@pytest.fixture(scope="module")
def golden_pkg(tiny_golden_pkg):
    return tiny_golden_pkg


def _h(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


def _lot_with_units(c, key, pkg):
    gid = c.post("/api/goldens", headers=_h(key), files={"file": ("tiny.golden", pkg.read_bytes())}).json()["golden_id"]
    lot = c.post("/api/lots", headers=_h(key), json={"product": SPEC["product"], "golden_id": gid, "lot_size": 50}).json()["lot_id"]
    files = [("files", ("good.png", png_bytes(product(401)), "image/png")),
             ("files", ("stain.png", png_bytes(defective(402)), "image/png"))]
    assert c.post(f"/api/lots/{lot}/photos", headers=_h(key), files=files).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = c.get(f"/api/lots/{lot}", headers=_h(key)).json()
        if s["progress"]["scored"] >= 2:
            return lot, {u["file"]: u for u in s["units"]}
        time.sleep(0.1)
    raise AssertionError("not scored")


def _to_picture(box, shape, width=900):
    x0, f = picture_layout(shape, width=width)
    return [(box[0] + x0) * f, box[1] * f, (box[2] + x0) * f, box[3] * f]


def test_label_api_writes_the_products_dataset_and_refuses_bad_requests(tmp_path, golden_pkg):
    app = create_app(f"sqlite:///{tmp_path / 's.db'}", tmp_path / "data")
    eng = app.state.store.engine
    insp = new_key(eng, "inspector A", role="inspector")[1]
    viewer = new_key(eng, "viewer", role="viewer")[1]
    other = new_key(eng, "other", role="inspector", scopes=["product:handbag"])[1]
    with TestClient(app) as c:
        lot, units = _lot_with_units(c, insp, golden_pkg)
        sha = units["stain.png"]["image_sha256"]
        url = f"/api/lots/{lot}/units/{sha}/label"
        body = {"frame": "golden", "defects": [{"box": [188, 138, 213, 163], "class": "stain", "severity": "major"}]}
        assert c.post(url, headers=_h(viewer), json=body).status_code == 403
        assert c.post(url, headers=_h(other), json=body).status_code == 403
        r = c.post(url, headers=_h(insp), json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["frame"] == "golden px" and out["boxes_added"] == 1 and "dataset" not in out
        good = units["good.png"]["image_sha256"]
        assert c.post(f"/api/lots/{lot}/units/{good}/label", headers=_h(insp), json={"good": True}).json()["n_samples"] == 2
        for bad, code in (({"defects": [{"box": [0, 0, 9999, 5], "class": "stain"}], "frame": "golden"}, 400),
                          ({"defects": [{"box": [1, 2, 3], "class": "stain"}]}, 400),
                          ({"defects": [{"box": [10, 10, 40, 40], "class": "x" * 80}], "frame": "golden"}, 400),
                          ({"good": True, "defects": [{"box": [10, 10, 40, 40], "class": "stain"}]}, 400),
                          ({}, 400)):
            r = c.post(url, headers=_h(insp), json=bad)
            assert r.status_code == code, (bad, r.text)
        assert c.post(f"/api/lots/{lot}/units/{'0' * 64}/label", headers=_h(insp), json=body).status_code == 404
        assert c.post(f"/api/lots/{lot}/units/../../etc/label", headers=_h(insp), json=body).status_code == 404
        listed = c.get("/api/labels", headers=_h(viewer)).json()
        assert [(d["product"], d["n_samples"], d["n_annotations"], d["classes"]) for d in listed] == \
            [(SPEC["product"], 2, 1, ["stain"])]
        assert c.get("/api/labels", headers=_h(other)).json() == []
    ds = load_dataset(tmp_path / "data" / "labels" / SPEC["product"], "gv")
    (s,) = [x for x in ds.samples if x.annotations]
    assert s.group == lot and s.template is not None
    assert np.allclose(s.annotations[0].box_xyxy, (188, 138, 213, 163))


@needs_chromium
def test_inspector_drags_a_box_on_the_lot_page_in_headless_chromium(tmp_path, golden_pkg):
    pytest.importorskip("selenium", reason="selenium (test extra) is not installed")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import goldenvision as gv

    app = create_app(f"sqlite:///{tmp_path / 's.db'}", tmp_path / "data")
    key = new_key(app.state.store.engine, "inspector A", role="inspector")[1]
    with TestClient(app) as c:
        lot, units = _lot_with_units(c, key, golden_pkg)
    base, stop = serve(app)
    from goldenvision.store import open_store

    row = next(r for r in open_store(f"sqlite:///{tmp_path / 's.db'}").results(lot=lot) if r["file"] == "stain.png")
    bbox = row["result"]["defects"][0]["bbox"]
    shape = gv.load_golden(golden_pkg).reference.shape
    drv = browser(tmp_path)
    try:
        drv.get(base + "/ui/login")
        drv.find_element(By.ID, "key").send_keys(key)
        drv.find_element(By.ID, "signin").click()
        wait = WebDriverWait(drv, 90, poll_frequency=0.05)  # not the default 0.5 s of idle time per unmet wait
        wait.until(lambda d: "/ui/lots" in d.current_url)  # signed in: the cookie is set
        drv.get(f"{base}/ui/lots/{lot}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "button.lb[data-file='stain.png']"))
        drv.find_element(By.CSS_SELECTOR, "button.lb[data-file='stain.png']").click()
        img = drv.find_element(By.ID, "l-img")
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        k = img.size["width"] / drv.execute_script("return arguments[0].naturalWidth", img)
        p = _to_picture(bbox, shape)
        cx, cy = img.size["width"] / 2, img.size["height"] / 2
        drv.find_element(By.ID, "l-class").send_keys("stain")
        ActionChains(drv).move_to_element_with_offset(img, int(p[0] * k - cx), int(p[1] * k - cy)).click_and_hold() \
            .move_to_element_with_offset(img, int(p[2] * k - cx), int(p[3] * k - cy)).release().perform()
        assert drv.find_element(By.ID, "l-boxes").text == "1 box"
        drv.find_element(By.ID, "l-save").click()
        wait.until(lambda d: d.find_element(By.ID, "l-msg").text.startswith(("saved", "not saved")))
        msg = drv.find_element(By.ID, "l-msg").text
        drv.save_screenshot(str(tmp_path / "label.png"))
    finally:
        drv.quit()
        stop()
    assert msg.startswith("saved: 1 box(es)"), msg
    ds = load_dataset(tmp_path / "data" / "labels" / SPEC["product"], "gv")
    (a,) = ds.samples[0].annotations
    assert a.label == "stain" and np.allclose(a.box_xyxy, bbox, atol=4.0), (a.box_xyxy, bbox)
