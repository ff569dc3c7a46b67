"""The HTML report renders in a real headless Chromium, shows the run's test count, and makes
no request to any other host (every request to a host other than loopback goes through a
logging proxy; a control page proves the proxy sees such requests)."""

from __future__ import annotations

import functools
import glob
import http.server
import json
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pytest_rec.htmlreport import TOOLS, external_urls

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"),
    pytest.mark.skipif(not (TOOLS / "node_modules" / ".bin" / "allure").exists(),
                       reason="the Allure 3 generator is not installed (bash rec.sh setup runs npm ci)"),
]


# Chromium's own services (clock, component updater, sign-in, autofill): traffic of the browser,
# not of the page; matched by exact host, so a page's analytics host is never excused by this.
BROWSER_OWN = {"clients2.google.com", "update.googleapis.com", "accounts.google.com",
               "content-autofill.googleapis.com", "optimizationguide-pa.googleapis.com",
               "safebrowsingohttpgateway.googleapis.com", "www.google.com", "redirector.gvt1.com"}


def _host(line: str) -> str:
    target = line.split(" ")[1] if " " in line else line
    target = re.sub(r"^https?://", "", target)
    return target.split("/")[0].split(":")[0]


def page_requests(seen: list[str]) -> list[str]:
    return [line for line in seen if _host(line) not in BROWSER_OWN]


class _Proxy(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.seen: list[str] = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):
                data = inner.request.recv(4096).decode("latin-1")
                self.seen.append(data.split("\r\n", 1)[0])

        super().__init__(("127.0.0.1", 0), Handler)


def _serve(directory: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _render(url: str, proxy_port: int, profile: Path) -> str:
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-pings", "--disable-domain-reliability",
         "--disable-client-side-phishing-detection", "--disable-features=NetworkTimeServiceQuerying,"
         "AutofillServerCommunication,OptimizationHints,MediaRouter,Translate", f"--user-data-dir={profile}",
         f"--proxy-server=http://127.0.0.1:{proxy_port}", "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180)
    return proc.stdout


def _text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-depth", "smoke", "-q",
                           "--rec-report-dir", str(tmp / "reports")], cwd=tmp, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "HTML report" in proc.stdout
    results = [json.loads(Path(f).read_text()) for f in glob.glob(str(tmp / "reports/allure-results/*-result.json"))]
    return tmp / "reports", len(results)


@pytest.mark.parametrize("variant", ["allure-report", "allure-report-single"])
def test_report_renders_offline_with_the_test_count(report, variant, tmp_path):
    reports, count = report
    page = reports / variant / "index.html"
    assert not external_urls(page.read_text()), "the page names a remote resource"
    proxy = _Proxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    server = _serve(reports / variant)
    try:
        dom = _render(f"http://127.0.0.1:{server.server_address[1]}/index.html", proxy.server_address[1],
                      tmp_path / "profile")
    finally:
        server.shutdown()
        proxy.shutdown()
    text = _text(dom)
    assert f"Total {count}" in text, text[:800]
    assert f"Passed {count}" in text
    assert page_requests(proxy.seen) == [], f"requests left for another host: {proxy.seen}"


def test_control_page_with_a_remote_script_is_seen_by_the_proxy(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(
        '<html><body>control<script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>'
        '</body></html>')
    proxy = _Proxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    server = _serve(tmp_path / "site")
    try:
        _render(f"http://127.0.0.1:{server.server_address[1]}/index.html", proxy.server_address[1],
                tmp_path / "profile")
    finally:
        server.shutdown()
        proxy.shutdown()
    assert any("www.googletagmanager.com" in line for line in page_requests(proxy.seen)), proxy.seen


def test_analytics_are_stripped_from_a_raw_allure_page():
    from pytest_rec.htmlreport import strip_analytics

    raw = ('<html><head><title>x</title></head><body><script async src="https://www.googletagmanager.com/gtag/js?'
           'id=G-X"></script>\n<script>\n window.dataLayer = window.dataLayer || [];\n gtag("config", "G-X");\n'
           '</script></body></html>')
    out = strip_analytics(raw)
    assert "googletagmanager" not in out and "dataLayer" not in out and "Content-Security-Policy" in out
