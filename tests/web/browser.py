"""Real-browser fixtures: the app served on a loopback port by a thread, and Debian's Chromium
driven by Playwright (launched with flags that keep it off the network except our server)."""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("COOP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN"}
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "zh-CN"}


class Served(str):
    """The base URL; `.requests` lists (method, path) of every request the server received."""

    requests: list


@pytest.fixture
def served(app):
    """The test's app on http://127.0.0.1:PORT, served by a thread (threaded, so the page's polls and
    the test's own calls run side by side)."""
    seen: list = []

    def recording(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = Served(f"http://127.0.0.1:{server.server_port}")
    base.requests = seen
    yield base
    server.shutdown()
    thread.join(10)


def launch(playwright):
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
