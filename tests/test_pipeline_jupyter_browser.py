"""`waltport jupyter` in a real browser: JupyterLab, notebook 00-board, the profile form.

Debian's chromium, driven by Playwright (never a downloaded browser), opens
00-board, runs every cell, switches the DHCP identifier from VCI to UCI in the
form and sees the generated first stage change.  The screenshot is kept in
build/test-artifacts/ for a reviewer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_fixtures import ROOT, _jupyter_dirs, jupyter_root  # noqa: F401

CHROMIUM = shutil.which("chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]
NEWS_PROMPT = "official Jupyter news"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (bootstrap)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def _wait_kernel_idle(base: str, token: str, timeout: float = 90) -> None:
    # "Run All" before the notebook's kernel is up opens a kernel chooser instead.
    deadline = time.monotonic() + timeout
    while True:
        sessions = _get(f"{base}/api/sessions?token={token}")
        if any(s["kernel"]["name"] == "waltport" and s["kernel"]["execution_state"] == "idle"
               for s in sessions):
            return
        assert time.monotonic() < deadline, f"the waltport kernel did not start: {sessions}"
        time.sleep(0.5)


@pytest.fixture
def lab(jupyter_root: Path) -> Iterator[tuple[str, str]]:  # noqa: F811
    """`waltport jupyter` on a free port: (base URL, token)."""
    port, token = _free_port(), "waltport-browser-test"
    env = {**os.environ, "WALTPORT_JUPYTER_TOKEN": token}
    proc = subprocess.Popen([sys.executable, "-m", "waltport.cli", "jupyter", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "JupyterLab did not answer"
                time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)   # the session we started: jupyter and its kernel
        proc.wait(timeout=30)


def test_form_in_jupyterlab_switches_vci_to_uci(lab: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (dev dependency)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        try:
            base, token = lab
            page.goto(f"{base}/lab/tree/notebooks/00-board.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            _wait_kernel_idle(base, token)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            uci = page.get_by_role("button", name="UCI (option 77)")
            uci.wait_for(timeout=60_000)
            preview = page.locator(".widget-html pre").first
            preview.wait_for(timeout=30_000)
            before = preview.inner_text()
            assert "setenv bootp_vci walt.node." in before
            uci.click()
            # U-Boot cannot send a user class: the form says why and the preview goes.
            page.get_by_text("no preview (profile invalid)").wait_for(timeout=30_000)
            assert page.locator(".widget-html pre").count() == 0
            assert "dhcp_identifier" in page.locator(".widget-html").all_inner_texts().__str__()
            # Every cell ran without an error output, and no news pop-up covers the notebook.
            assert page.locator(".jp-OutputArea-output[data-mime-type*='error']").count() == 0
            assert page.get_by_text(NEWS_PROMPT).count() == 0
            page.get_by_role("button", name="VCI (option 60)").click()
            page.locator(".widget-html pre").first.wait_for(timeout=30_000)
            assert page.locator(".widget-html pre").first.inner_text() == before
            uci.click()
            page.get_by_text("no preview (profile invalid)").wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "jupyter-00-board-uci.png"), full_page=True)
        except Exception:
            # What the browser showed when it went wrong, for the reviewer.
            page.screenshot(path=str(ARTIFACTS / "jupyter-00-board-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "jupyter-00-board-uci.png").stat().st_size > 10_000
