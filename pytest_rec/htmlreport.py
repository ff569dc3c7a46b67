"""The HTML report: Allure 3 (npm package `allure`, pinned by report-tools/package-lock.json).

Allure 3's template loads Google Analytics; a report handed to a buyer must make no network
request when opened. After generation every page has the analytics tags removed and a
Content-Security-Policy that forbids loading anything from another host. Without Node the
other reports still stand, and the message says how to get this one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent / "report-tools"
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


def _generate(results: Path, output: Path, single: bool, name: str) -> None:
    cli = TOOLS / "node_modules" / ".bin" / "allure"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "allurerc.mjs"
        config.write_text(
            "export default {\n"
            f"  name: {name!r},\n"
            f"  output: {str(output)!r},\n"
            f"  plugins: {{ awesome: {{ options: {{ singleFile: {'true' if single else 'false'}, "
            "reportLanguage: \"en\" } } },\n};\n", encoding="utf-8")
        proc = subprocess.run([str(cli), "generate", "--config", str(config), str(results)], cwd=TOOLS,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"allure generate failed ({proc.returncode}): {proc.stderr[-500:]}")
    for page in output.rglob("*.html"):
        page.write_text(strip_analytics(page.read_text(encoding="utf-8")), encoding="utf-8")


def build_html(report_dir: Path, name: str = "pytest-rec compliance") -> str:
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
    full, single = report_dir / "allure-report", report_dir / "allure-report-single"
    for out in (full, single):
        shutil.rmtree(out, ignore_errors=True)
    _generate(results, full, False, name)
    _generate(results, single, True, name)
    return f"pytest-rec: HTML report {full}/index.html (single file: {single}/index.html)"
