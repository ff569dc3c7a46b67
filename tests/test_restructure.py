"""tools/restructure.py (issue 28): the tree needs no more rewriting, and code written against the old
flat modules (as merged-in work may be) is rewritten to the packages, idempotently."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rs():
    spec = importlib.util.spec_from_file_location("restructure", ROOT / "tools" / "restructure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rewrite(rs, rel: str, text: str) -> str:
    return rs.rewrite_python(text, Path(rel), None, rs.current_modules())


def test_every_move_is_made(rs):
    for old, new in rs.MODULES.items():
        assert not rs.path_of(old).exists() or rs.path_of(old).is_dir(), f"{old} still at its old place"
        assert rs.path_of(new).exists(), f"{new} missing"


def test_the_tree_needs_no_rewriting(rs):
    """Every file the script would touch reads as the script would write it: nothing imports an old name."""
    known = rs.current_modules()
    stale = []
    for p in rs.text_files():
        rel = p.relative_to(ROOT)
        text = p.read_text(encoding="utf-8")
        new = rs.rewrite_python(text, rel, None, known) if p.suffix == ".py" else rs.rewrite_text(text, known)
        if new != text:
            stale.append(str(rel))
    assert not stale, f"old module names in: {stale} (run python tools/restructure.py)"


OLD_STYLE = '''from .sessions import Operator
from .client import RecClient, Transcript
from ..model import Modes
from ..model import matrix
from pytest_rec import progress
from pytest_rec.gate import known
from pytest_rec.shapes import SHAPES, raise_all
import pytest_rec.judge as judge
PATCHED = "pytest_rec.client.RecClient.wait_job"
CMD = ["-m", "pytest_rec.gate"]
'''

NEW_STYLE = '''from .sessions import Operator
from ..client.rest import RecClient
from ..client.transcript import Transcript
from ..model.behaviour import Modes
from ..model import matrix
from pytest_rec.client import progress
from pytest_rec.gate import known
from pytest_rec.model.shapes import SHAPES
from pytest_rec.engine.judge import raise_all
import pytest_rec.engine.judge as judge
PATCHED = "pytest_rec.client.rest.RecClient.wait_job"
CMD = ["-m", "pytest_rec.gate.release"]
'''


def test_old_names_are_rewritten_once(rs):
    """A new module under engine/ written against the flat layout; a second pass changes nothing."""
    once = _rewrite(rs, "pytest_rec/engine/walks.py", OLD_STYLE)
    assert once == NEW_STYLE
    assert _rewrite(rs, "pytest_rec/engine/walks.py", once) == once


def test_a_module_moved_now_keeps_its_relative_imports_right(rs):
    """A file just moved from pytest_rec/ reads its relative imports from where it was written."""
    text = "from .judge import show\nfrom .target import Target\nfrom .errors import Deviation\n"
    out = rs.rewrite_python(text, Path("pytest_rec/engine/sessions.py"), "pytest_rec.sessions", rs.current_modules())
    assert out == "from .judge import show\nfrom ..model.target import Target\nfrom ..errors import Deviation\n"
