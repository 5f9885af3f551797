"""What the browser tests share: Debian's Chromium through Playwright, a served app, a page.

Each browser test module keeps one server and one Chromium for the module (its own fixtures,
built from these helpers), so CI starts a handful of browsers, not one per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.catalog import PROJECT_ROOT
from tests.test_admin import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip without Chromium, unless CI demands it (REQUIRE_BROWSER=1: then fail)."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail("Chromium is required (REQUIRE_BROWSER=1) but not installed")
    pytest.skip("Debian's chromium is not installed")


@contextmanager
def serving(app) -> Iterator[str]:
    """The Flask app on a free local port, in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.shutdown()


@contextmanager
def chromium() -> Iterator:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@contextmanager
def browser_page(browser, server: str, request, *, timeout_ms: int = 30_000, **context) -> Iterator:
    """A fresh page on ``server``; a failed test leaves its screenshot in test-artifacts/.

    Waits give up after ``timeout_ms``: 30 s, as a page that takes a second here took up to
    fourteen in CI, beside the other test worker on two cores."""
    browser_context = browser.new_context(base_url=server, **context)
    page = browser_context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        browser_context.close()


def follow(page, selector: str) -> None:
    """Click the link at ``selector`` and wait until the page it opens has loaded. A click
    waits only for the navigation to start; reading the page then may read the old one."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page, email: str = "legal@example.com") -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("text=Terms catalog")
