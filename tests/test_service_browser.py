"""The upload service's pages, end to end in a real headless Chromium (Debian's chromium + chromedriver)."""

from __future__ import annotations

import contextlib

import pytest

from goldenvision.service import create_app, new_key
from browser import browser, needs_chromium, serve
from synthetic import defective, png_bytes, product

selenium = pytest.importorskip("selenium", reason="selenium (test extra) is not installed")
pytestmark = needs_chromium


@pytest.fixture()
def server(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 's.db'}", tmp_path / "data")
    key = new_key(app.state.store.engine, "inspector A", role="inspector")[1]
    base, stop = serve(app)
    yield base, key, tmp_path
    stop()


@pytest.fixture(scope="module")
def drv(tmp_path_factory):
    """One headless Chromium for the page tests of this module (each test starts signed out:
    its cookies are cleared first)."""
    d = browser(tmp_path_factory.mktemp("chromium"))
    yield d
    d.quit()


def _signed_out(drv) -> None:
    """No cookie left by another test in the shared browser (a sign-in cookie is per host, not per port)."""
    drv.execute_cdp_cmd("Network.clearBrowserCookies", {})


def _leave(drv) -> None:
    """Off the page (and its polling) before the test's server stops; the browser stays for the next test."""
    from selenium.common.exceptions import WebDriverException

    with contextlib.suppress(WebDriverException):
        drv.get("about:blank")


#: WebDriverWait's poll interval (its default is 0.5 s, idle time on every wait that is not met at once).
POLL_S = 0.05


def _sign_in_create_lot_upload(drv, wait, key: str, lot_size: int, photos, supplier: str | None = None) -> None:
    """On the sign-in page: sign in, create a lot of ``lot_size`` on the first golden, upload ``photos``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    drv.find_element(By.ID, "key").send_keys(key)
    drv.find_element(By.ID, "signin").click()
    wait.until(lambda d: "/ui/lots" in d.current_url and d.find_elements(By.ID, "create"))
    Select(drv.find_element(By.ID, "golden")).select_by_index(0)
    size = drv.find_element(By.ID, "lot_size")
    size.clear()
    size.send_keys(str(lot_size))
    if supplier:
        drv.find_element(By.ID, "supplier").send_keys(supplier)
    drv.find_element(By.ID, "create").click()
    wait.until(lambda d: "/ui/lots/lot-" in d.current_url)
    drv.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in photos))


def test_sign_in_open_a_lot_upload_photos_read_verdicts(server, drv, tmp_path, tiny_golden_pkg):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, key, tmp = server
    pkg = tiny_golden_pkg
    import httpx

    httpx.post(base + "/api/goldens", headers={"Authorization": f"Bearer {key}"},
               files={"file": ("tiny.golden", pkg.read_bytes())}).raise_for_status()
    photos = []
    for i in range(7):
        p = tmp / f"unit_{i:02d}.png"
        p.write_bytes(png_bytes(product(300 + i, (1, -1))))
        photos.append(p)
    bad = tmp / "unit_stain.png"
    bad.write_bytes(png_bytes(defective(399)))
    photos.append(bad)

    _signed_out(drv)
    try:
        wait = WebDriverWait(drv, 60, poll_frequency=POLL_S)
        drv.get(base + "/ui/lots")
        assert "/ui/login" in drv.current_url  # not signed in: sent to the sign-in page
        drv.find_element(By.ID, "key").send_keys("wrong key")
        drv.find_element(By.ID, "signin").click()
        wait.until(lambda d: "not valid" in d.page_source)
        _sign_in_create_lot_upload(drv, wait, key, 30, photos, supplier="ACME Leather")
        wait.until(lambda d: d.find_element(By.ID, "scoredtxt").text == f"{len(photos)} of {len(photos)}")
        rows = drv.find_elements(By.CSS_SELECTOR, "#units tr")[1:]
        verdicts = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text for r in rows}
        assert verdicts == {**{p.name: "pass" for p in photos[:-1]}, "unit_stain.png": "fail"}
        # ISO 2859-1: lot of 30 -> code D (n 8); AQL 2.5 points down to E? the verdict is read off the page
        wait.until(lambda d: d.find_element(By.ID, "lotverdict").text.lower() in ("accept", "reject", "pending"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#failing img.ev"))
        img = drv.find_element(By.CSS_SELECTOR, "#failing img.ev")
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        drv.save_screenshot(str(tmp_path / "lot-page.png"))
    finally:
        _leave(drv)
    assert (tmp_path / "lot-page.png").stat().st_size > 20_000


def test_the_demo_lot_uploaded_through_the_page_gets_the_in_process_verdicts(server, drv, tmp_path, demo_lot,
                                                                              demo_golden_path, demo_results):
    """Issue 16's acceptance: sign in, upload the demo lot through the page, read the verdicts on the lot page.

    The page's verdicts must be the ones the library gives in-process for the same photos and golden.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import httpx

    base, key, _tmp = server
    httpx.post(base + "/api/goldens", headers={"Authorization": f"Bearer {key}"},
               files={"file": ("demo.golden", demo_golden_path.read_bytes())}).raise_for_status()
    photos = list(demo_lot.unit_paths)
    _signed_out(drv)
    try:
        wait = WebDriverWait(drv, 120, poll_frequency=POLL_S)
        drv.get(base + "/ui/login")
        # the whole lot photographed: ISO 2859-1's sample never exceeds it
        _sign_in_create_lot_upload(drv, wait, key, len(photos), photos)
        wait.until(lambda d: d.find_element(By.ID, "scoredtxt").text == f"{len(photos)} of {len(photos)}")
        rows = drv.find_elements(By.CSS_SELECTOR, "#units tr")[1:]
        on_page = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text for r in rows}
        drv.save_screenshot(str(tmp_path / "demo-lot-page.png"))
        wait.until(lambda d: d.find_element(By.ID, "lotverdict").text.lower() in ("accept", "reject"),
                   message=f"lot verdict stayed {drv.find_element(By.ID, 'lotverdict').text!r}: {drv.find_element(By.ID, 'why').text}")
    finally:
        _leave(drv)
    expected = {p.name: demo_results[p.stem].verdict.value for p in photos}
    assert on_page == expected
    assert set(expected.values()) >= {"pass", "fail"}  # the demo lot has both, so the comparison can fail
