"""The HTML report: Allure 3 (npm package `allure`, pinned in pytest_rec/report-tools/), built
without network access at view time. Without Node the other reports still stand."""

from __future__ import annotations

import shutil
from pathlib import Path


def build_html(report_dir: Path) -> str:
    if shutil.which("node") is None or shutil.which("npx") is None:
        return ("pytest-rec: Node.js is not installed, so the HTML report was not built; every other report is "
                "written. Install Node 20 and run `rec-compliance` again (or see README, 'HTML report').")
    return "pytest-rec: HTML report generator not set up yet"
