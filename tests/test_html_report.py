"""The HTML report renders in a real headless Chromium, shows the run's test count, and makes
no request to any other host (every request to a host other than loopback goes through a
logging proxy; a control page proves the proxy sees such requests). The single-file report of a
failing run, opened at the address the run prints, shows without a click the verdict, the failing
requirement and a failing case's PATCH, job and GET steps, and its tree has one node per requirement."""

from __future__ import annotations

import functools
import glob
import html.parser
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from pytest_rec.report.html import TOOLS, external_urls

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_MISSING = [why for missing, why in [
    (CHROMIUM is None, "Chromium is not installed (apt-get install chromium; .ci/run does)"),
    (not (TOOLS / "node_modules" / ".bin" / "allure").exists(),
     "the Allure 3 generator is not installed (bash rec.sh setup runs npm ci)")] if missing]
# CI (.ci/run sets REC_REQUIRE_BROWSER=1) must not pass with the browser checks skipped
_REQUIRED = os.environ.get("REC_REQUIRE_BROWSER") == "1"
pytestmark = [pytest.mark.whole_run] + ([] if _REQUIRED else
                                       [pytest.mark.skipif(bool(_MISSING), reason="; ".join(_MISSING) or "-")])


@pytest.fixture(autouse=True)
def _browser_present():
    if _MISSING:            # only reached when REC_REQUIRE_BROWSER=1: a failure, not a skip
        pytest.fail("the report's browser checks cannot run: " + "; ".join(_MISSING))


# Chromium's own services (clock, component updater, sign-in, autofill, GCM push): traffic of the
# browser, not of the page; matched by exact host, so a page's analytics host is never excused by this.
BROWSER_OWN = {"clients2.google.com", "update.googleapis.com", "accounts.google.com", "android.clients.google.com",
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


def _run_suite(tmp: Path, *args: str) -> tuple[Path, subprocess.CompletedProcess]:
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "-q", "--rec-report-dir", str(tmp / "reports"),
                           *args], cwd=tmp, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "REC_HTML": "all"})
    return tmp / "reports", proc


def _statuses(reports: Path) -> Counter:
    return Counter(json.loads(Path(f).read_text())["status"]
                   for f in glob.glob(str(reports / "allure-results" / "*-result.json")))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    reports, proc = _run_suite(tmp_path_factory.mktemp("html"), "--rec-depth", "smoke")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "HTML report" in proc.stdout
    return reports, _statuses(reports)


@pytest.mark.parametrize("variant", ["allure-report", "allure-report-single"])
def test_report_renders_offline_with_the_test_count(report, variant, tmp_path):
    reports, statuses = report
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
    assert f"Total {sum(statuses.values())}" in text, text[:800]
    assert f"Passed {statuses['passed']}" in text
    assert page_requests(proxy.seen) == [], f"requests left for another host: {proxy.seen}"


class _ByTestId(html.parser.HTMLParser):
    """The text of every element carrying a data-testid, by test id, in document order."""

    def __init__(self):
        super().__init__()
        self.found: dict[str, list[str]] = {}
        self._open: list[list] = []          # [testid, tag, depth, text parts]

    def handle_starttag(self, tag, attrs):
        for item in self._open:
            if item[1] == tag:
                item[2] += 1
        testid = dict(attrs).get("data-testid")
        if testid:
            self._open.append([testid, tag, 1, []])

    def handle_endtag(self, tag):
        for item in list(self._open):
            if item[1] == tag:
                item[2] -= 1
                if item[2] == 0:
                    self._open.remove(item)
                    self.found.setdefault(item[0], []).append(re.sub(r"\s+", " ", "".join(item[3])).strip())

    def handle_data(self, data):
        for item in self._open:
            item[3].append(data)


def by_test_id(dom: str) -> dict[str, list[str]]:
    parser = _ByTestId()
    parser.feed(dom)
    return parser.found


def front_page_problems(dom: str, summary: dict, failing: str) -> list[str]:
    """What a reader would miss on the page the run printed, without a click."""
    found, problems = by_test_id(dom), []
    title = " ".join(found.get("report-title", []))
    if not title.startswith(f"VERDICT: {summary['verdict']}") or failing not in title:
        problems.append(f"the report's title is not the verdict naming {failing}: {title!r}")
    shown = " ".join(found.get("test-result-info-title", []))
    if not shown.startswith("VERDICT:"):
        problems.append(f"the page does not open at the verdict: {shown!r}")
    steps = found.get("test-result-step-title", [])
    if not any(s.startswith(f"{failing}:") for s in steps):
        problems.append(f"no step names the failing requirement {failing}: {steps[:5]}")
    for call in ("PATCH /api/v1/copysession/", "GET /api/v1/job/", "GET /api/v1/copysession/"):
        if not any(s.startswith(call) for s in steps):
            problems.append(f"no visible step {call}...: {steps[:8]}")
    nodes = [t for t in found.get("tree-section-title", []) if re.match(r"REC-[A-Z0-9-]+: ", t)]
    per_requirement = Counter(t.split(":")[0] for t in nodes)
    expected = {r["id"] for r in summary["requirements"] if r["tests"]}
    if set(per_requirement) != expected or any(n != 1 for n in per_requirement.values()):
        problems.append(f"the tree is not one node per requirement: {dict(per_requirement)} vs {sorted(expected)}")
    if nodes and not nodes[0].startswith(failing):
        problems.append(f"the tree does not lead with the failing requirement: {nodes[:3]}")
    return problems


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    reports, proc = _run_suite(tmp_path_factory.mktemp("failing"), "--rec-depth", "smoke",
                               "--rec-sim-defect", "no-forced-manual")
    assert proc.returncode == 1, proc.stdout[-3000:]
    printed = re.findall(r"HTML report \(one file, opens offline\): (file://\S+)", proc.stdout)
    assert len(printed) == 1, proc.stdout[-2000:]
    return reports, printed[0]


def test_failing_run_front_page_leads_with_the_verdict_and_the_failing_requirement(failing, tmp_path):
    reports, url = failing
    assert url.startswith((reports / "allure-report-single" / "index.html").resolve().as_uri() + "#/")
    proxy = _Proxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        dom = _render(url, proxy.server_address[1], tmp_path / "profile")
    finally:
        proxy.shutdown()
    summary = json.loads((reports / "compliance.json").read_text())
    assert summary["verdict"] == "non-compliant"
    assert front_page_problems(dom, summary, "REC-FORCED-MANUAL") == []
    assert page_requests(proxy.seen) == [], f"requests left for another host: {proxy.seen}"


def test_no_fixture_noise_our_categories_and_the_restore(failing):
    reports, _ = failing
    results = reports / "allure-results"
    containers = [json.loads(f.read_text()) for f in results.glob("*-container.json")]
    fixtures = [fx for c in containers for fx in c.get("befores", []) + c.get("afters", [])]
    assert not [fx["name"] for fx in fixtures if "<lambda>" in fx["name"] or not (fx.get("steps") or fx.get(
        "attachments") or fx.get("status") not in (None, "passed"))], "fixture records that never talked to the array"
    failed = [r for r in (json.loads(f.read_text()) for f in results.glob("*-result.json")) if r["status"] == "failed"]
    categories = json.loads((reports / "allure-report" / "widgets" / "categories.json").read_text())
    roots = {categories["nodes"][n]["name"]: categories["nodes"][n]["statistic"] for n in categories["roots"]}
    assert "Product errors" not in roots, roots
    assert roots["Array deviations (the array broke a rule of the reference)"].get("failed") == len(failed), roots
    restore = [json.loads(f.read_text()) for f in results.glob("*-result.json")]
    assert [r for r in restore if r["name"].startswith("Restore: ") and r["status"] == "passed"]


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
    from pytest_rec.report.html import strip_analytics

    raw = ('<html><head><title>x</title></head><body><script async src="https://www.googletagmanager.com/gtag/js?'
           'id=G-X"></script>\n<script>\n window.dataLayer = window.dataLayer || [];\n gtag("config", "G-X");\n'
           '</script></body></html>')
    out = strip_analytics(raw)
    assert "googletagmanager" not in out and "dataLayer" not in out and "Content-Security-Policy" in out


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Tree(html.parser.HTMLParser):
    """The report's tree as the browser drew it: each leaf (its result id and status) with the top-level
    node (requirement) it sits under, and the failed count each top-level node's status bar shows."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, str, str]] = []       # (tag, data-testid, class)
        self.leaves: list[dict] = []
        self.failed_counts: dict[str, int] = {}
        self.top = ""
        self._capture: str | None = None

    def _depth(self) -> int:
        return sum(1 for _, testid, _ in self.stack if testid == "tree-content")

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        testid, cls = a.get("data-testid") or "", a.get("class") or ""
        if tag not in _VOID:
            self.stack.append((tag, testid, cls))
        depth = self._depth()
        if testid == "tree-section-title" and depth == 1:
            self.top, self._capture = "", "title"
        elif "tree-status-bar-item" in cls and "failed" in cls and depth == 1:
            self._capture = "failed"
        elif testid == "tree-leaf":
            self.leaves.append({"id": a.get("id"), "requirement": self.top.split(":")[0], "status": None})
        elif testid.startswith("tree-leaf-status-") and self.leaves:
            self.leaves[-1]["status"] = testid.removeprefix("tree-leaf-status-")

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
        self._capture = None

    def handle_data(self, data):
        if self._capture == "title":
            self.top += data
        elif self._capture == "failed" and data.strip().isdigit():
            self.failed_counts[self.top.split(":")[0]] = int(data.strip())


def tree_of(dom: str) -> _Tree:
    parser = _Tree()
    parser.feed(dom)
    return parser


def _results_by_report_id(reports: Path) -> dict[str, dict]:
    from pytest_rec.report.allure_run import result_id

    out = {}
    for f in (reports / "allure-results").glob("*-result.json"):
        data = json.loads(f.read_text())
        out[result_id(data["uuid"])] = data
    return out


def _case_of(result: dict) -> str | None:
    return next((lb["value"] for lb in result.get("labels", []) if lb["name"] == "rec_case"), None)


@pytest.fixture(scope="module")
def cascading(tmp_path_factory):
    """A defect that breaks a setup step (a change to Consistency answered Success and never applied): the
    cases of other requirements that need a Consistency state are blocked, and compliance.json blames the
    setup step on REC-ACCEPT alone (issue 24's fail fast: the step is not tried again)."""
    reports, proc = _run_suite(tmp_path_factory.mktemp("cascading"), "--rec-sim-defect", "consistency-never-applied")
    assert proc.returncode == 1, proc.stdout[-3000:]
    printed = re.findall(r"HTML report \(one file, opens offline\): (file://\S+)", proc.stdout)
    assert len(printed) == 1, proc.stdout[-2000:]
    return reports, printed[0]


def test_cascading_defect_every_red_case_sits_under_its_failed_requirements(cascading, tmp_path):
    """The tree the browser shows and compliance.json agree case by case: each red leaf is under a
    requirement of its case's failed_requirements, each requirement node's failed count is the number of
    cases that failed it, and a case failed by a setup step (no exception of its own) shows its message."""
    reports, url = cascading
    summary = json.loads((reports / "compliance.json").read_text())
    cases = {c["id"]: c for c in summary["cases"]}
    deviating = [c for c in summary["cases"] if c["outcome"] in ("failed", "known-deviation")]
    assert any(c.get("setup_failed") or c["detail"].startswith("setup step:") for c in deviating)
    dom = _render(url, 9, tmp_path / "profile")
    tree, results = tree_of(dom), _results_by_report_id(reports)
    red = [leaf for leaf in tree.leaves if leaf["status"] == "failed" and leaf["id"] in results
           and _case_of(results[leaf["id"]])]
    assert len(red) >= 10, f"too few red cases drawn to judge the tree: {len(red)}"
    wrong = [(leaf["requirement"], _case_of(results[leaf["id"]])) for leaf in red
             if leaf["requirement"] not in cases[_case_of(results[leaf["id"]])]["failed_requirements"]]
    assert wrong == [], f"red cases under a requirement they did not fail: {wrong[:5]}"
    expected = Counter(r for c in deviating for r in c["failed_requirements"])
    assert {k: v for k, v in tree.failed_counts.items() if k.startswith("REC-")} == dict(expected)
    # every failed case carries a message naming the rule it broke (the report's data, every case) ...
    for data in results.values():
        case = cases.get(_case_of(data) or "")
        if data["status"] == "failed" and case is not None:
            message = (data.get("statusDetails") or {}).get("message", "")
            assert any(f"[{r}]" in message for r in case["failed_requirements"]), (case["id"], message[:200])
    # ... and the browser shows it on the case's page: one whose failure came from a setup step
    def from_setup(case: dict) -> bool:
        return bool(case.get("setup_failed")) or case.get("detail", "").startswith("setup step:")

    setup_only = next(rid for rid, d in results.items()
                      if from_setup(cases.get(_case_of(d) or "") or {}) and d["status"] == "failed")
    page = by_test_id(_render(url.split("#")[0] + f"#/{setup_only}", 9, tmp_path / "profile2"))
    shown = " ".join(page.get("test-result-error-message", []))
    assert "[REC-ACCEPT]" in shown and "setup step" in shown, shown[:300]


@pytest.fixture(scope="module")
def known_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("known")
    (tmp / "known.toml").write_text('[[deviation]]\nrequirement = "REC-RECOVERY"\ncases = "*"\nticket = "ETERNUS-42"\n'
                                    'reason = "recovery_mode is ignored when the session ends in Consistency"\n')
    reports, proc = _run_suite(tmp, "--rec-depth", "smoke", "--rec-sim-defect", "recovery-ignored-consistency",
                               "--rec-known-deviations", str(tmp / "known.toml"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "no new deviations" in proc.stdout.splitlines()[-1]
    return reports


def test_known_deviations_run_front_page_names_the_ticket_opened_without_an_address(known_run, tmp_path):
    """Opened as a double-click opens it (no #/<id>), the single file shows the verdict result, which
    names the ticket and says "no new deviations"; the known cases are red as known deviations, in
    their own category, never grey "skipped"."""
    reports = known_run
    dom = _render((reports / "allure-report-single" / "index.html").resolve().as_uri(), 9, tmp_path / "profile")
    found = by_test_id(dom)
    title = " ".join(found.get("test-result-info-title", []))
    assert title.startswith("VERDICT: non-compliant") and "no new deviations" in title and "ETERNUS-42" in title, title
    message = " ".join(found.get("test-result-error-message", []))
    assert "No new deviations" in message and "ETERNUS-42" in message and "recovery_mode is ignored" in message
    md = (reports / "compliance.md").read_text()
    assert "No new deviations" in md and "ETERNUS-42 (REC-RECOVERY" in md
    results = _results_by_report_id(reports)
    known = [d for d in results.values() if _case_of(d) and d["name"].startswith("[known ETERNUS-42]")]
    summary = json.loads((reports / "compliance.json").read_text())
    assert len(known) == sum(1 for c in summary["cases"] if c["outcome"] == "known-deviation") > 0
    assert {d["status"] for d in known} == {"failed"}
    categories = json.loads((reports / "allure-report" / "widgets" / "categories.json").read_text())
    roots = {categories["nodes"][n]["name"]: categories["nodes"][n]["statistic"] for n in categories["roots"]}
    assert [v.get("failed") for k, v in roots.items() if k.startswith("Known deviations")] == [len(known)], roots
    assert not [d for d in results.values() if d["status"] == "skipped" and "known" in d["name"]]
    drawn = [leaf for leaf in tree_of(dom).leaves if leaf["id"] in results and
             results[leaf["id"]]["name"].startswith("[known ")]
    assert drawn and {leaf["status"] for leaf in drawn} == {"failed"}
