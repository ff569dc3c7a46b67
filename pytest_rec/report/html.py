"""The HTML report: Allure 3 (npm package `allure`, pinned by report-tools/package-lock.json).

The report a reader opens is the single file (it works from disk), at the verdict's result, with
the verdict as its name and the requirement tree beside it (allure_steps.TREE), failed first, our
categories applied (Allure 3 reads them from its configuration, not from categories.json).

Allure 3's template loads Google Analytics; a report handed to a buyer must make no network
request when opened. After generation every page has the analytics tags removed and a
Content-Security-Policy that forbids loading anything from another host. Without Node the
other reports still stand, and the message says how to get this one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .allure_run import write_run_results
from .allure_steps import TREE, categories_allure3, tidy_results

TOOLS = Path(__file__).resolve().parents[1] / "report-tools"
CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'self\' data: blob:; '
       'script-src \'self\' \'unsafe-inline\' \'unsafe-eval\' data: blob:; style-src \'self\' \'unsafe-inline\' '
       'data: blob:; img-src \'self\' data: blob:; font-src \'self\' data:; connect-src \'self\' data: blob:">')
_ANALYTICS = [
    re.compile(r'<script[^>]*src="https?://www\.googletagmanager\.com/[^"]*"[^>]*>\s*</script>', re.I),
    re.compile(r"<script>\s*window\.dataLayer\s*=.*?</script>", re.I | re.S),
]


def strip_analytics(html: str) -> str:
    for pattern in _ANALYTICS:
        html = pattern.sub("", html)
    if "Content-Security-Policy" not in html:
        html = re.sub(r"<head([^>]*)>", lambda m: f"<head{m.group(1)}>{CSP}", html, count=1, flags=re.I)
    return html


def external_urls(html: str) -> list[str]:
    """URLs a page would load from another host (script/link/img sources)."""
    html = re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)
    return re.findall(r'(?:src|href)\s*=\s*["\'](https?://[^"\']+)', html, flags=re.I)


def allure_config(output: Path, single: bool, name: str, group_by: list[str]) -> dict:
    """The Allure 3 configuration: the requirement tree, failed first, our categories."""
    return {"name": name, "output": str(output), "categories": categories_allure3(),
            "plugins": {"awesome": {"options": {
                "singleFile": single, "reportLanguage": "en", "reportName": name, "groupBy": group_by,
                "defaultSortBy": "status,asc", "stepTreeExpansion": "expand_failed_only", "layout": "split"}}}}


def _generate(results: Path, outputs: list[tuple[Path, bool]], name: str, group_by: list[str]) -> None:
    """Run the Allure 3 generator once per (output, single-file) pair, all at the same time: each run
    is mostly Node start-up and reading the results, so two in parallel take about as long as one."""
    cli = TOOLS / "node_modules" / ".bin" / "allure"
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k, (output, single) in enumerate(outputs):
            config = Path(tmp) / f"allurerc-{k}.mjs"
            config.write_text("export default " + json.dumps(allure_config(output, single, name, group_by), indent=1)
                              + ";\n", encoding="utf-8")
            procs.append(subprocess.Popen([str(cli), "generate", "--config", str(config), str(results)], cwd=TOOLS,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        failures = []
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=600)
            except BaseException:
                for p in procs:
                    p.kill()
                raise
            if proc.returncode != 0:
                failures.append(f"allure generate failed ({proc.returncode}): {err[-500:]}")
        if failures:
            raise RuntimeError("; ".join(failures))
    for output, _ in outputs:
        for page in output.rglob("*.html"):
            page.write_text(strip_analytics(page.read_text(encoding="utf-8")), encoding="utf-8")


def headline(summary: dict) -> str:
    """The report's name, the first line of its front page: the verdict and what failed."""
    target = summary.get("target") or {}
    failing = [r["id"] for r in summary.get("requirements", []) if r.get("verdict") in ("fail", "error")]
    line = f"VERDICT: {summary.get('verdict', 'inconclusive')} - {target.get('model', 'unknown')} " \
           f"{target.get('serial', '')} firmware {target.get('firmware', 'unknown')}"
    line += f" - fails: {', '.join(failing)}" if failing else ""
    from .reasons import known_line

    if known_line(summary):
        line += f" - no new deviations (known: {', '.join(summary.get('known_deviations') or [])})"
    return line


def build_html(report_dir: Path, name: str | None = None, group_by: list[str] | None = None,
               focus: str | None = None, multi: bool = True) -> str:
    """Build the HTML report from ``report_dir/allure-results``; return the line to print: the
    single-file report (it opens from disk), at the verdict's result. With a compliance.json in
    ``report_dir`` the verdict and restore results are written and the name is the verdict;
    ``focus`` is the result to open at otherwise. ``allure-report/`` is the same report as several
    files, for a web server (from disk it shows a spinner: browsers refuse its data requests); built
    only with ``multi`` (on a 2-core machine the second generation costs 1-2 s)."""
    results = report_dir / "allure-results"
    if shutil.which("node") is None:
        return ("pytest-rec: Node.js is not installed, so the HTML report was not built (every other report is "
                "written). Install Node 20, then `bash rec.sh setup` and run again.")
    if not (TOOLS / "node_modules" / ".bin" / "allure").exists():
        return (f"pytest-rec: the Allure 3 generator is not installed; run `npm ci` in {TOOLS} "
                "(`bash rec.sh setup` does it), then run again. Every other report is written.")
    if not results.is_dir():
        return "pytest-rec: no allure-results, so no HTML report"
    report_dir, results = report_dir.resolve(), results.resolve()
    summary_path = report_dir / "compliance.json"
    tidy_results(results)
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        focus = write_run_results(results, summary)
        name = name or headline(summary)
    full, single = report_dir / "allure-report", report_dir / "allure-report-single"
    for out in (full, single):
        shutil.rmtree(out, ignore_errors=True)
    _generate(results, [(full, False), (single, True)] if multi else [(single, True)], name or "pytest-rec compliance",
              group_by or TREE)
    if focus:
        for out in (full, single):
            if (out / "index.html").exists():
                page = out / "index.html"
                page.write_text(open_at(page.read_text(encoding="utf-8"), focus), encoding="utf-8")
    return f"pytest-rec: HTML report (one file, opens offline): {report_url(single / 'index.html', focus)}"


def open_at(html: str, focus: str) -> str:
    """The page opened without an address of a result (a double-click, a CI artifact link) shows the
    result ``focus`` (the verdict), not "No selected Test result": a script that runs before the app
    sets the address, unless one was given."""
    if not re.fullmatch(r"[0-9a-f]{32}", focus) or "data-rec-open-at" in html:
        return html
    script = (f'<script data-rec-open-at>if(!/^#\\/./.test(location.hash))'
              f'{{history.replaceState(null,"","#/{focus}")}}</script>')
    return re.sub(r"<head([^>]*)>", lambda m: f"<head{m.group(1)}>{script}", html, count=1, flags=re.I)


def report_url(page: Path, focus: str | None = None) -> str:
    """A file:// address of the page, opened at the result ``focus`` (Allure 3 routes ``#/<id>``)."""
    return page.resolve().as_uri() + (f"#/{focus}" if focus else "")


if __name__ == "__main__":     # python -m pytest_rec.report.html [REPORT_DIR]: build the HTML of an earlier run
    import sys

    print(build_html(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"), multi=False))
