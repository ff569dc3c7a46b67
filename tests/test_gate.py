"""Known deviations, firmware comparison and fleet merge (release gating)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_rec.gate import compare, fleet_table
from pytest_rec.known import Known, KnownDeviationsError, load_known, match

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


def test_fleet_table():
    t = fleet_table([_summary(reqs={"REC-A": "pass"}), _summary(reqs={"REC-A": "fail", "REC-B": "pass"}, fw="F2")])
    assert "| M S | F1 |" in t and "| M S | F2 |" in t and "REC-B" in t


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
    p = subprocess.run([sys.executable, "-m", "pytest_rec.gate", str(base / "clean"), str(base / "broken")],
                       capture_output=True, text=True)
    assert p.returncode == 1
    diff = compare(json.loads((base / "clean/compliance.json").read_text()),
                   json.loads((base / "broken/compliance.json").read_text()))
    assert diff["new"] and {rule for rule, _ in diff["new"]} == {"REC-RECOVERY"}
    assert not diff["fixed"]


def test_merge_runs(runs, tmp_path):
    base, clean, broken = runs
    p = subprocess.run([sys.executable, "-c", "import sys; from pytest_rec.gate import merge_main; "
                        "sys.exit(merge_main(sys.argv[1:]))", str(base / "clean"), str(base / "broken"),
                        "-o", str(tmp_path / "m"), "--no-html"], capture_output=True, text=True)
    assert p.returncode == 1
    fleet = (tmp_path / "m" / "fleet.md").read_text()
    assert fleet.count("SIMULATOR") == 2 and "REC-RECOVERY" in fleet
    n = len(list((base / "clean" / "allure-results").glob("*-result.json"))) + \
        len(list((base / "broken" / "allure-results").glob("*-result.json")))
    assert len(list((tmp_path / "m" / "allure-results").glob("*-result.json"))) == n
