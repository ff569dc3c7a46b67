"""Screenshots of the HTML report's front page, as a reader first sees it, for the README:
a clean run (docs/report-clean.png), a run against a defective simulator whose defect breaks a
setup step, so that its failures cascade into other requirements' cases (docs/report-failing.png),
and the same kind of defect ticketed in a known-deviations file (docs/report-known.png), all at
depth full, taken in headless Chromium.

    .venv/bin/python docs/screenshots.py                       # runs all three, then takes the pictures
    .venv/bin/python docs/screenshots.py --clean DIR --failing DIR --known DIR   # from report folders already written

The page opened is the one `rec-compliance` prints: the single-file report, at the verdict.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
DEFECT = "stack-to-sync-keeps-stack"             # a setup step fails: every red mark must still be REC-ACCEPT's
KNOWN_DEFECT = "recovery-ignored-consistency"
KNOWN = """[[deviation]]
requirement = "REC-RECOVERY"
cases = "*"
ticket = "ETERNUS-42"
reason = "recovery_mode is ignored when the session ends in Consistency"
"""


def run(report_dir: Path, *args: str) -> str:
    """One compliance run into ``report_dir``; the address of the front page it printed."""
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "-q", "--rec-report-dir", str(report_dir), *args],
                          capture_output=True, text=True, timeout=3600, cwd=report_dir.parent)
    return front_page(proc.stdout, report_dir)


def front_page(output: str, report_dir: Path) -> str:
    found = re.findall(r"HTML report[^:]*: (file://\S+)", output)
    if not found:
        raise SystemExit(f"no HTML report for {report_dir}: {output[-1500:]}")
    return found[-1]


def shoot(url: str, png: Path, chromium: str) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1600,1000",
                        "--virtual-time-budget=15000", f"--screenshot={png}", url],
                       capture_output=True, text=True, timeout=180, check=True)
    print(f"{png.relative_to(DOCS.parent)}: {url}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clean", type=Path, help="a report folder of a clean run (else one is run)")
    p.add_argument("--failing", type=Path, help=f"a report folder of a failing run (else one with {DEFECT})")
    p.add_argument("--known", type=Path, help=f"a report folder of a run with known deviations only (else one with "
                                               f"{KNOWN_DEFECT} and a known-deviations file)")
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    from pytest_rec.report.html import build_html

    with tempfile.TemporaryDirectory() as tmp:
        pages = {}
        known = Path(tmp) / "known.toml"
        known.write_text(KNOWN, encoding="utf-8")
        for key, given, extra in (("clean", args.clean, []), ("failing", args.failing, ["--rec-sim-defect", DEFECT]),
                                  ("known", args.known, ["--rec-sim-defect", KNOWN_DEFECT,
                                                         "--rec-known-deviations", str(known)])):
            if given is not None:
                pages[key] = front_page(build_html(given), given)
            else:
                pages[key] = run(Path(tmp) / key, "--rec-depth", "full", *extra)
        for key, url in pages.items():
            shoot(url, DOCS / f"report-{key}.png", chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
