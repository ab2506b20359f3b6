"""The server seen by real third-party clients: a Prometheus server scraping /metrics, and the web UI
driven by Playwright in Debian's Chromium. .ci/run installs both from Debian's packages; in CI
(``CI=true``) a missing one fails the test, elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx2 as httpx  # noqa: E402

from test_server import LiveServer  # noqa: E402

from greentts.server import ServerConfig, create_app  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def live(engine):
    server = LiveServer(create_app(ServerConfig(), engine=engine))
    yield server
    server.stop()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(ok: bool, what: str) -> None:
    if not ok:
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(f"{what} is not installed (apt-get install {what})")


def test_a_real_prometheus_scrapes_the_metrics(live, tmp_path):
    _need(shutil.which("prometheus") is not None, "prometheus")
    httpx.post(live.url + "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Scrape me.",
                                                     "response_format": "wav", "stream": False}, timeout=120)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: greentts\n    static_configs:\n"
                   f"      - targets: ['127.0.0.1:{live.port}']\n")
    port = _port()
    proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api = f"http://127.0.0.1:{port}/api/v1/query"
        deadline, result = time.time() + 60, []
        while time.time() < deadline and not result:
            time.sleep(1)
            try:
                q = 'greentts_energy_joules_total{method="estimated"}'
                result = httpx.get(api, params={"query": q}).json()["data"]["result"]
            except (httpx.TransportError, ValueError, KeyError):
                pass
        assert result and float(result[0]["value"][1]) > 0, result
        up = httpx.get(api, params={"query": 'up{job="greentts"}'}).json()["data"]["result"]
        assert up[0]["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(30)


def test_web_ui_streams_audio_and_shows_energy(live):
    _need(Path(CHROMIUM).exists(), "chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(live.url + "/")
            page.wait_for_function("document.querySelectorAll('#voice option').length > 50")
            assert page.locator("#voice optgroup[label='Mandarin Chinese'] option").count() >= 8  # grouped by language
            page.fill("#text", "Hello from the browser. This audio is streamed while it is made.")
            page.select_option("#voice", "af_bella")
            page.click("#play")
            page.wait_for_function("window.greenttsAudioBytes > 0", timeout=60000)
            page.wait_for_function("document.querySelector('#joules').textContent.includes('J')", timeout=60000)
            assert page.locator("#ttfa").text_content().endswith(" s")
            assert page.locator("#method").text_content() == "estimated"
            assert "g" in page.locator("#gco2e").text_content()
            page.wait_for_function("document.querySelector('#t_requests').textContent !== '–'")
            page.screenshot(path=str(DOCS / "web-ui.png"), full_page=True)
        finally:
            browser.close()
