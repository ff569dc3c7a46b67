"""Known deviations, firmware comparison and fleet merge (release gating)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pytest_rec.gate.release import compare, fleet_table
from pytest_rec.report.html import TOOLS
from pytest_rec.gate.known import Known, KnownDeviationsError, load_known, match

K = Known("REC-FORCED-MANUAL", "test_patch[Synchronous/Automatic/*", "T-1", "r")


def test_known_matching_rules():
    assert match([K], ["REC-FORCED-MANUAL"], "test_patch[Synchronous/Automatic/Manual + {x}]", None)
    assert not match([K], ["REC-FORCED-MANUAL"], "test_patch[Stack/Manual/Manual + {x}]", None)
    assert not match([K], ["REC-FORCED-MANUAL", "REC-RECOVERY"], "test_patch[Synchronous/Automatic/M]", None)
    fw = Known("REC-AUTH", "*", "T-2", "r", ("V1",))
    assert match([fw], ["REC-AUTH"], "test_no_token", "V1") and not match([fw], ["REC-AUTH"], "test_no_token", "V2")


def test_known_file_errors(tmp_path):
    f = tmp_path / "k.toml"
    f.write_text('[[deviation]]\nrequirement = "REC-AUTH"\ncases = "*"\nreason = "x"\n')
    with pytest.raises(KnownDeviationsError, match="ticket"):
        load_known(f)
    # a requirement that is not in the catalogue would match nothing, silently: named, with a suggestion
    f.write_text('[[deviation]]\nrequirement = "REC-TENANT-DENI"\ncases = "*"\nticket = "T"\nreason = "x"\n')
    with pytest.raises(KnownDeviationsError, match="not a requirement of the catalogue.*REC-TENANT-DENY"):
        load_known(f)


def _summary(depth="full", cases=(), reqs=None, fw="F1"):
    return {"target": {"firmware": fw, "model": "M", "serial": "S", "kind": "array"}, "depth": depth,
            "verdict": "compliant", "cases": [{"id": i, "outcome": o, "failed_requirements": r} for i, o, r in cases],
            "requirements": [{"id": k, "verdict": v} for k, v in (reqs or {}).items()]}


def test_compare_edge_cases():
    old = _summary(cases=[("a", "failed", ["REC-X"]), ("b", "known-deviation", ["REC-Y"]), ("c", "passed", []),
                          ("d", "failed", ["REC-Z"])],
                   reqs={"REC-X": "fail", "REC-Y": "fail", "REC-W": "pass", "REC-OLD": "pass"})
    new = _summary(depth="pairwise", cases=[("a", "passed", []), ("b", "known-deviation", ["REC-Y"]),
                                            ("c", "failed", ["REC-W"])],
                   reqs={"REC-X": "pass", "REC-Y": "fail", "REC-W": "error", "REC-NEW": "pass"}, fw="F2")
    diff = compare(old, new)
    assert diff["new"] == [("REC-W", "c")]
    assert diff["fixed"] == [("REC-X", "a")]
    assert diff["unchanged"] == [("REC-Y", "b")]
    assert diff["not_compared"] == [("REC-Z", "d")]            # case d did not run at the new depth
    assert diff["pass_to_error"] == ["REC-W"]
    assert diff["requirements_added"] == ["REC-NEW"] and diff["requirements_removed"] == ["REC-OLD"]


def test_compare_exits_2_when_the_new_run_checked_less(tmp_path):
    """A smoke (or dry, or -k) run compared with a full one: no new deviation proves nothing, exit 2."""
    from pytest_rec.gate.release import compare_main

    full = _summary(cases=[("a", "passed", [])], reqs={"REC-X": "pass"})
    smoke = _summary(depth="smoke", cases=[("a", "passed", [])], reqs={"REC-X": "pass"})
    for name, data in (("full", full), ("smoke", smoke)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    assert compare_main([str(tmp_path / "full.json"), str(tmp_path / "full.json")]) == 0
    assert compare_main([str(tmp_path / "full.json"), str(tmp_path / "smoke.json")]) == 2
    assert compare_main([str(tmp_path / "smoke.json"), str(tmp_path / "full.json")]) == 0


def test_compare_and_merge_take_the_known_deviations_file(tmp_path, capsys):
    """--rec-known: the deviations the file lists are reported apart with their ticket and do not fail
    the gate; one it does not list still does; rec-merge counts a run with only known deviations as
    rec-compliance does (exit 0), and refuses a run given twice."""
    from pytest_rec.gate.release import compare_main, merge_main

    known = tmp_path / "known.toml"
    known.write_text('[[deviation]]\nrequirement = "REC-RECOVERY"\ncases = "test_patch[Consistency/*"\n'
                     'ticket = "ETERNUS-42"\nreason = "r"\n')
    old = _summary(cases=[("test_patch[Consistency/a]", "passed", [])], reqs={"REC-RECOVERY": "pass"})
    new = _summary(cases=[("test_patch[Consistency/a]", "failed", ["REC-RECOVERY"])], reqs={"REC-RECOVERY": "fail"})
    new.update(verdict="non-compliant", blockers=[], run={"started": "T2"})
    old["run"] = {"started": "T1"}
    other = dict(new, cases=[{"id": "test_patch[Stack/b]", "outcome": "failed", "failed_requirements": ["REC-RECOVERY"]}],
                 run={"started": "T3"})
    for name, data in (("old", old), ("new", new), ("other", other)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "compliance.json").write_text(json.dumps(data))
    paths = {n: str(tmp_path / n) for n in ("old", "new", "other")}
    assert compare_main([paths["old"], paths["new"]]) == 1
    capsys.readouterr()
    assert compare_main([paths["old"], paths["new"], "--rec-known", str(known)]) == 0
    out = capsys.readouterr().out
    assert "## New deviations (0)" in out and "(ETERNUS-42)" in out and "## Known deviations" in out
    assert compare_main([paths["old"], paths["other"], "--rec-known", str(known)]) == 1     # not the file's case
    merged = str(tmp_path / "fleet")
    assert merge_main([paths["old"], paths["new"], "-o", merged, "--no-html"]) == 1
    assert merge_main([paths["old"], paths["new"], "-o", merged, "--no-html", "--rec-known", str(known)]) == 0
    assert "0 new, 1 known (ETERNUS-42)" in (tmp_path / "fleet" / "fleet.md").read_text()
    assert merge_main([paths["old"], paths["other"], "-o", merged, "--no-html", "--rec-known", str(known)]) == 1
    assert merge_main([paths["new"], paths["new"], "-o", merged, "--no-html"]) == 2
    assert "are the same run" in capsys.readouterr().err


def test_fleet_table():
    t = fleet_table([_summary(reqs={"REC-A": "pass"}), _summary(reqs={"REC-A": "fail", "REC-B": "pass"}, fw="F2")])
    assert "| M S | F1 | unknown to unknown |" in t and "| M S | F2 |" in t and "REC-B" in t


def _run(tmp: Path, *args) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "-q", "--rec-report-dir", str(tmp), *args],
                       capture_output=True, text=True, timeout=600, cwd=tmp.parent)
    return p.returncode, p.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gate")
    clean = _run(base / "clean", "--rec-depth", "smoke")
    broken = _run(base / "broken", "--rec-depth", "smoke", "--rec-sim-defect", "recovery-ignored-consistency")
    return base, clean, broken


def test_known_deviation_gates_as_no_new_deviation(runs, tmp_path):
    base, clean, broken = runs
    known = tmp_path / "known.toml"
    known.write_text('[[deviation]]\nrequirement = "REC-RECOVERY"\ncases = "*"\nticket = "ETERNUS-42"\n'
                     'reason = "recovery_mode ignored in Consistency"\n')
    code, out = _run(tmp_path / "r", "--rec-depth", "smoke", "--rec-sim-defect", "recovery-ignored-consistency",
                     "--rec-known-deviations", str(known))
    assert code == 0, out[-2000:]
    assert "no new deviations" in out.strip().splitlines()[-1]
    s = json.loads((tmp_path / "r" / "compliance.json").read_text())
    assert {r["id"]: r["verdict"] for r in s["requirements"]}["REC-RECOVERY"] == "fail"
    assert any(c["outcome"] == "known-deviation" for c in s["cases"]) and s["known_deviations"] == ["ETERNUS-42"]
    code, out = _run(tmp_path / "r2", "--rec-depth", "smoke", "--rec-sim-defect", "tenant-unchecked",
                     "--rec-known-deviations", str(known))
    assert code == 1                                     # a deviation the file does not name


def test_compare_clean_and_defective_lists_exactly_the_defect(runs):
    base, clean, broken = runs
    p = subprocess.run([sys.executable, "-m", "pytest_rec.gate.release", str(base / "clean"), str(base / "broken")],
                       capture_output=True, text=True)
    assert p.returncode == 1
    diff = compare(json.loads((base / "clean/compliance.json").read_text()),
                   json.loads((base / "broken/compliance.json").read_text()))
    assert diff["new"] and {rule for rule, _ in diff["new"]} == {"REC-RECOVERY"}
    assert not diff["fixed"]


def _merge(base: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from pytest_rec.gate.release import merge_main; "
                           "sys.exit(merge_main(sys.argv[1:]))", str(base / "clean"), str(base / "broken"),
                           "-o", str(out), *extra], capture_output=True, text=True, timeout=600)


def test_merge_runs(runs, tmp_path):
    base, clean, broken = runs
    p = _merge(base, tmp_path / "m", "--no-html")
    assert p.returncode == 1 and "rec-merge: exit 1: an array deviated" in p.stdout, p.stdout[-2000:]
    fleet = (tmp_path / "m" / "fleet.md").read_text()
    rows = [line for line in fleet.splitlines() if "SIMULATOR" in line]
    assert len(rows) == 2 and "REC-RECOVERY" in fleet
    for name in ("clean", "broken"):            # each row: array, firmware, when it ran, the verdict
        s = json.loads((base / name / "compliance.json").read_text())
        assert [r for r in rows if s["run"]["started"] in r and f"**{s['verdict']}**" in r and "SIM-1.0" in r]
    results = [json.loads(f.read_text()) for f in (tmp_path / "m" / "allure-results").glob("*-result.json")]
    n = len(list((base / "clean" / "allure-results").glob("*-result.json"))) + \
        len(list((base / "broken" / "allure-results").glob("*-result.json")))
    assert len(results) >= n                     # every run's cases (the runs wrote their verdict and restore)
    assert sorted(r["name"].split(":")[0] for r in results if r["name"].startswith(("VERDICT:", "Restore:"))) == \
        ["Restore", "Restore", "VERDICT", "VERDICT"]
    assert max(Counter(r["historyId"] for r in results).values()) == 1, "a case of one run is a retry of another's"
    assert len({lb["value"] for r in results for lb in r["labels"] if lb["name"] == "array"}) == 2
    env = (tmp_path / "m" / "allure-results" / "environment.properties").read_text()
    assert "runs=2" in env and "non_compliant=1" in env and "run_1=" in env and "run_2=" in env, env


@pytest.mark.skipif((not (TOOLS / "node_modules" / ".bin" / "allure").exists() or shutil.which("node") is None)
                    and os.environ.get("REC_REQUIRE_BROWSER") != "1",   # CI: a failure, never a skip
                    reason="the Allure 3 generator is not installed (bash rec.sh setup runs npm ci)")
def test_merged_report_shows_the_defective_runs_failures_as_failures(runs, tmp_path):
    base, clean, broken = runs
    p = _merge(base, tmp_path / "m")
    assert p.returncode == 1, p.stdout[-2000:]
    assert "HTML report (one file, opens offline): file://" in p.stdout
    summary = json.loads((base / "broken" / "compliance.json").read_text())
    failed = sum(1 for c in summary["cases"] if c["outcome"] == "failed")
    assert summary["verdict"] == "non-compliant" and failed
    report = tmp_path / "m" / "allure-report"
    tree = json.loads((report / "widgets" / "tree.json").read_text())
    arrays = [tree["groupsById"][g] for g in tree["root"]["groups"]]
    assert len(arrays) == 2, [a["name"] for a in arrays]
    broken_node = [a for a in arrays if "recovery-ignored-consistency" in a["name"]]
    assert len(broken_node) == 1 and "non-compliant" in broken_node[0]["name"]
    assert broken_node[0]["statistic"].get("failed") == failed + 1, broken_node[0]["statistic"]   # + its verdict
    stats = json.loads((report / "summary.json").read_text())["stats"]
    results = list((tmp_path / "m" / "allure-results").glob("*-result.json"))
    assert stats["total"] == len(results), stats           # nothing folded into "retries"
    assert stats["failed"] >= failed + 1
