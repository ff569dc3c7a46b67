"""The README's examples work when pasted: the simulator by hand (rec-sim with TLS, then the seed
page's own curl example against it), and the two commands' help."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    code = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    # join continued lines, drop comments
    code = code.replace("\\\n", " ")
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_simulator_by_hand_example(tmp_path):
    lines = _block("## The simulator by hand")
    start = lines[0]
    assert start.startswith("bash rec.sh sim ")
    args = start.split()[3:]
    sim = subprocess.Popen([str(BIN / "rec-sim"), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = sim.stdout.readline()
            seen.append(line)
            if "target file written" in line or (line.startswith("rec-sim: serving") and "--target-out" not in start):
                break
        else:
            pytest.fail("rec-sim did not start: " + "".join(seen))
        script = "set -e\n" + "\n".join(lines[1:]) + "\n"
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"^HTTP/1\.1 202", proc.stdout, re.M), proc.stdout[-2000:]
    assert '"job_href":"/api/v1/job/' in proc.stdout.replace(" ", "")


@pytest.mark.parametrize("command", ["rec-compliance", "rec-restore", "rec-sim", "rec-compare", "rec-merge"])
def test_commands_answer_help(command):
    proc = subprocess.run([str(BIN / command), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]


def _commands(heading: str) -> list[tuple[str, int]]:
    """The block under ``heading`` as (command, the exit code its comment names); a here-document
    stays with the command that starts it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").split(heading, 1)[1]
    raw = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    out, i = [], 0
    while i < len(raw):
        line = raw[i]
        i += 1
        if not line.strip() or line.strip().startswith("#"):
            continue
        if "<<'EOF'" in line:
            body = [line]
            while raw[i] != "EOF":
                body.append(raw[i])
                i += 1
            body.append(raw[i])
            i += 1
            out.append(("\n".join(body), 0))
            continue
        m = re.search(r"#\s*exit (\d)", line)
        assert m, f"a README command without the exit code it ends with: {line}"
        out.append((line, int(m.group(1))))
    return out


@pytest.mark.whole_run
def test_release_gating_example(tmp_path):
    """Every line of the README's release-gating block, pasted in a fresh folder, ends with the exit
    code its comment names; the merged fleet table has both runs."""
    import os

    commands = _commands("## Release gating")
    assert len(commands) >= 5
    env = {**os.environ, "REC_HTML": "0"}
    for command, expected in commands:
        proc = subprocess.run(["bash", "-c", command.replace(".venv/bin/", f"{BIN}/")], cwd=tmp_path,
                              capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode == expected, f"{command}\n{(proc.stdout + proc.stderr)[-2500:]}"
    fleet = (tmp_path / "reports" / "fleet" / "fleet.md").read_text()
    assert "non-compliant" in fleet and "compliant" in fleet.replace("non-compliant", "")
    assert any("rec-compare" in c and "--rec-known" in c and e == 0 for c, e in commands), \
        "the block gates a ticketed deviation with rec-compare"
    # everything the block writes is under reports/, which git ignores: nothing left untracked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"], sorted(tmp_path.iterdir())
