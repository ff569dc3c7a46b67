"""Unknown keys are errors in every table of the target file (CONTRACT section 3), naming the
file, the table and the key: a typo never silently changes what the suite does or reports."""

from __future__ import annotations

import copy

import pytest

from pytest_rec.model.target import TargetFileError, parse_target

BASE = {"url": "https://array:5665",
        "users": {"admin": {"name": "a", "password_env": "A"}, "tenant": {"name": "t", "password_env": "T"}},
        "sessions": {"writable": [1], "tenant_own": 2, "tenant_foreign": 3, "non_rec": 4},
        "array": {"model": "AF650 S3", "serial": "1", "firmware": "V11"},
        "capabilities": {"consistency": True}}


def test_the_base_file_is_accepted():
    t = parse_target(copy.deepcopy(BASE), "t.toml")
    assert t.array["firmware"] == "V11"


@pytest.mark.parametrize("where, key, table", [
    ((), "urll", None), (("array",), "firmwre", "[array]"), (("capabilities",), "consistancy", "[capabilities]"),
    (("sessions",), "writeable", "[sessions]"), (("profile",), "settle_windw", "[profile]"),
    (("users", "admin"), "pasword_env", "[users.admin]"), (("users",), "othr", "[users.othr]"),
])
def test_unknown_key_is_an_error(where, key, table):
    data = copy.deepcopy(BASE)
    node = data
    for part in where:
        node = node.setdefault(part, {})
    node[key] = "x"
    with pytest.raises(TargetFileError) as err:
        parse_target(data, "t.toml")
    assert key in str(err.value) and "t.toml" in str(err.value)
    if table:
        assert table in str(err.value)


def test_every_profile_field_is_read_by_the_code():
    """Every assumption of the target profile is read somewhere outside its definition: a field that
    nothing reads would let a user set it and change nothing (DECISIONS 30)."""
    import dataclasses
    from pathlib import Path

    from pytest_rec.model.target import Profile

    root = Path(__file__).resolve().parents[1] / "pytest_rec"
    code = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py")
                     if p.name != "target.py" and "simulator" not in p.parts)
    unread = [f.name for f in dataclasses.fields(Profile) if f".{f.name}" not in code]
    assert not unread, f"profile fields read by nothing: {unread}"
