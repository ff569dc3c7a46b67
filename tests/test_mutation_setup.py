"""The mutation run (benchmarks/mutation.py) is honest: only defect and fault injection is kept from
mutmut, every reason for a surviving mutant is one of the allowed kinds, and none is a gap."""

from __future__ import annotations

import pytest
import ast
import re
import sys
import tomllib
from pathlib import Path

from pytest_rec.simulator.defects import DEFECTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import mutation  # noqa: E402


def _functions_in_scope() -> dict[str, tuple[str, int, int]]:
    """Rule-logic function -> (module file, first line, last line), from the classes mutation.py names."""
    found = {}
    for source, (_module, cls) in mutation.HOMES.items():
        tree = ast.parse((ROOT / source).read_text(encoding="utf-8"))
        klass = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        for f in klass.body:
            if isinstance(f, ast.FunctionDef) and f.name in mutation.FUNCTIONS:
                assert f.name not in found, f"{f.name} is defined twice"
                found[f.name] = (source, f.lineno, f.end_lineno)
    return found


def test_every_function_named_for_mutation_exists():
    scope = _functions_in_scope()
    assert set(scope) == set(mutation.FUNCTIONS)
    assert {fn: src for fn, (src, _, _) in scope.items()} == mutation.HOME_OF


def test_mutmut_mutates_exactly_the_rule_logic_modules():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    assert sorted(cfg["only_mutate"]) == sorted(mutation.SOURCES)
    name = f"{mutation.HOMES[mutation.HOME_OF['patch']][0]}.xǁPatchRulesǁpatch__mutmut_3"
    assert mutation.function_of(name) == "patch"
    assert mutation.function_of("pytest_rec.simulator.array.xǁArrayǁpatch__mutmut_3") is None
    assert mutation.pattern_of("_finish") == "pytest_rec.simulator.jobs.xǁJobsǁ_finish__mutmut_*"


def test_only_defect_and_fault_injection_is_excluded_from_mutation():
    for source in mutation.SOURCES:
        lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
        for number, line in [(i + 1, ln) for i, ln in enumerate(lines) if "pragma: no mutate" in ln]:
            code = line.split("#", 1)[0]
            if line.rstrip().endswith("defect injection"):
                names = re.findall(r'self\.defect\("([^"]+)"\)', code)
                assert names and all(n in DEFECTS for n in names), (source, number, line)
            else:
                assert line.rstrip().endswith("fault injection"), (source, number, line)
                assert re.search(r"self\.settings\.|_path_down\(|_job_hangs\(|\blag\b", code), \
                    (source, number, line)
    assert any("defect injection" in ln for source in mutation.SOURCES
               for ln in (ROOT / source).read_text(encoding="utf-8").splitlines()), \
        "the rule logic is expected to keep its defect switches out of mutmut's reach"


def test_every_defect_switch_in_the_rule_logic_is_excluded():
    """A defect switch left open to mutmut gives mutants that cannot change a clean run (equivalent by
    construction); they would inflate the survivor list without telling anything about the suite."""
    for name, (source, start, end) in _functions_in_scope().items():
        lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
        for number in range(start, end + 1):
            line = lines[number - 1]
            if "self.defect(" in line or "self.has(" in line:
                assert "pragma: no mutate" in line, f"{name}, {source}:{number}: {line.strip()}"


def test_reasons_are_well_formed_and_none_is_a_gap():
    data = tomllib.loads((ROOT / "benchmarks" / "mutation-reasons.toml").read_text(encoding="utf-8"))
    for entry in data.get("survivor", []):
        assert entry["reason"] in ("equivalent", "outside-reference"), entry
        assert entry["function"] in mutation.FUNCTIONS, entry
        assert entry["original"].strip() and len(entry["why"]) > 20, entry


def test_mutmut_runs_the_whole_suite_at_depth_full():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    assert cfg["pytest_add_cli_args_test_selection"] == ["pytest_rec/suite"]
    args = cfg["pytest_add_cli_args"]
    assert args[args.index("--rec-depth") + 1] == "full"
    assert "benchmarks.mutation_isolation" in args
    iso = (ROOT / "benchmarks" / "mutation_isolation.py").read_text(encoding="utf-8")
    assert 'SUITE = "pytest_rec/suite"' in iso


@pytest.mark.whole_run
def test_mutation_run_end_to_end_on_the_tenant_check(tmp_path):
    """`benchmarks/mutation.py` on a small part (the tenant check and the local-volume rule it rests on):
    mutmut generates the mutants, runs the whole suite against each, and every one is caught or stopped
    the run. Proves the one-command mutation run works on a fresh machine; the full run takes 40 minutes."""
    import os
    import shutil
    import subprocess

    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        import pytest

        pytest.fail("mutmut is not installed: `bash rec.sh test` installs requirements-mutation.lock")
    env = {**os.environ, "REC_MUTATION_WORK": str(tmp_path / "work")}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mutation.py"), "--functions", "_tenant_may",
                           "_local_volume", "--no-write"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    row = next(line for line in out.splitlines() if line.startswith("| `_tenant_may` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # every mutant of the tenant check caught: killed, or stopped when the mutated array also refuses the
    # admin's restore of the session the tenant changed (a session not put back ends the run with exit 2)
    assert cells[1] != "0" and cells[2] != "0" and int(cells[2]) + int(cells[4]) == int(cells[1]), row
    row = next(line for line in out.splitlines() if line.startswith("| `_local_volume` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) > 0 and int(cells[2]) + int(cells[3]) + int(cells[4]) == int(cells[1]), row


@pytest.mark.whole_run
def test_rerun_survivors_forgets_only_survivors(tmp_path):
    import json

    meta = tmp_path / "mutants" / (mutation.SOURCES[0] + ".meta")
    meta.parent.mkdir(parents=True)
    codes = {"a__mutmut_1": 0, "a__mutmut_2": 1, "a__mutmut_3": 33, "a__mutmut_4": 2, "a__mutmut_5": None}
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))
    mutation.forget_survivors(tmp_path)
    after = json.loads(meta.read_text())["exit_code_by_key"]
    assert after == {"a__mutmut_1": None, "a__mutmut_2": 1, "a__mutmut_3": None, "a__mutmut_4": 2, "a__mutmut_5": None}
