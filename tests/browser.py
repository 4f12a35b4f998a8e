"""Headless Chromium for the page tests: Debian's chromium and chromium-driver through Selenium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

DRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(not (DRIVER and CHROMIUM),
                                    reason="Debian's chromium and chromium-driver are not installed")


def browser(tmp: Path, *, size: str = "1300,1600"):
    """A headless Chromium driven by Selenium (the caller quits it)."""
    pytest.importorskip("selenium", reason="selenium (test extra) is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp / 'chrome'}", f"--window-size={size}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def serve(app):
    """Run an ASGI app under uvicorn on a free loopback port; returns (base URL, stop())."""
    import uvicorn

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)

    def stop() -> None:
        srv.should_exit = True
        th.join(timeout=10)

    return f"http://127.0.0.1:{port}", stop
