"""Move pytest_rec's flat modules into the layer packages and rewrite every import of them (issue 28).

    python tools/restructure.py            # from the repository root; prints what it moved and rewrote

Re-runnable: a move already made is skipped, and the rewriting is idempotent, so it can run again after
merging work that still imports the old module names (``from pytest_rec.sessions import Operator``,
``from .client import RecClient`` in a module now under ``engine/``, ``monkeypatch.setattr("pytest_rec.x.y")``,
``python -m pytest_rec.gate``, ``pytest_rec/judge.py`` in a document). What it rewrites: absolute and
relative imports in Python files (by their syntax tree), dotted names ``pytest_rec.x.y`` and paths
``pytest_rec/x.py`` in any text file the repository tracks; an import of a name that moved to another
module (``SYMBOLS``) once the tree has it there. What it does not: references that leave out the
``pytest_rec`` prefix (``sessions.Operator`` in prose), a test that patches a module's attribute where
the code that uses it no longer is, and the code moved between modules by hand after the move (the
commits after the one this script made: merged work that changed ``Operator``, ``RecClient.wait_job``,
``PatchRules._tenant_may`` or ``SimulatorApp``'s error answers carries its change to their new module).

For a merge: the other branches first, onto the tree before the move; then this script (one commit);
then the hand-made commits; then this script once more (it follows the names they moved).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "pytest_rec"

# old module -> new module (the data of this change; everything else follows from it)
MODULES = {
    "pytest_rec.walk": "pytest_rec.engine.walk",
    "pytest_rec.walk_shrink": "pytest_rec.engine.walk_shrink",
    "pytest_rec.reproducer": "pytest_rec.engine.reproducer",
    "pytest_rec.client": "pytest_rec.client.rest",
    "pytest_rec.guard": "pytest_rec.client.guard",
    "pytest_rec.transcript": "pytest_rec.client.transcript",
    "pytest_rec.progress": "pytest_rec.client.progress",
    "pytest_rec.model": "pytest_rec.model.behaviour",
    "pytest_rec.matrix": "pytest_rec.model.matrix",
    "pytest_rec.shapes": "pytest_rec.model.shapes",
    "pytest_rec.plan": "pytest_rec.model.plan",
    "pytest_rec.state": "pytest_rec.model.state",
    "pytest_rec.target": "pytest_rec.model.target",
    "pytest_rec.catalogue": "pytest_rec.model.catalogue",
    "pytest_rec.context": "pytest_rec.engine.context",
    "pytest_rec.sessions": "pytest_rec.engine.sessions",
    "pytest_rec.judge": "pytest_rec.engine.judge",
    "pytest_rec.preflight": "pytest_rec.engine.preflight",
    "pytest_rec.restore": "pytest_rec.engine.restore",
    "pytest_rec.wayback": "pytest_rec.engine.wayback",
    "pytest_rec.fuzzbodies": "pytest_rec.engine.fuzzbodies",
    "pytest_rec.report": "pytest_rec.report.summary",
    "pytest_rec.signoff": "pytest_rec.report.signoff",
    "pytest_rec.reasons": "pytest_rec.report.reasons",
    "pytest_rec.allure_steps": "pytest_rec.report.allure_steps",
    "pytest_rec.allure_run": "pytest_rec.report.allure_run",
    "pytest_rec.htmlreport": "pytest_rec.report.html",
    "pytest_rec.known": "pytest_rec.gate.known",
    "pytest_rec.gate": "pytest_rec.gate.release",
}

# names a module imported only to hand on (no compatibility re-exports): (module, name) -> where it is defined
SYMBOLS = {
    **{("pytest_rec.client.rest", n): "pytest_rec.client.transcript"
       for n in ("Secrets", "Exchange", "Transcript", "redact_json", "redact_body", "REDACTED")},
    ("pytest_rec.client.rest", "Guard"): "pytest_rec.client.guard",
    ("pytest_rec.client.rest", "GuardedTransport"): "pytest_rec.client.guard",
    ("pytest_rec.client.rest", "API"): "pytest_rec.client.guard",
    # moved by hand after the move (the Operator and RecClient split by job, the model kept pure)
    **{("pytest_rec.client.rest", n): "pytest_rec.client.jobs" for n in ("JobWaiter", "JobResult", "JOB_ENDED")},
    ("pytest_rec.model.shapes", "raise_all"): "pytest_rec.engine.judge",
    ("pytest_rec.simulator.inventory", "passwords"): "pytest_rec.simulator.targetfile",
    ("pytest_rec.simulator.inventory", "target_file_text"): "pytest_rec.simulator.targetfile",
    ("pytest_rec.simulator.array", "Settings"): "pytest_rec.simulator.settings",
    ("pytest_rec.simulator.array", "LoginSession"): "pytest_rec.simulator.auth",
    ("pytest_rec.simulator.array", "Job"): "pytest_rec.simulator.jobs",
    **{("pytest_rec.simulator.array", n): "pytest_rec.simulator.replies"
       for n in ("Reply", "error", "ERRORS", "FINAL_JOB_STATES", "PATCH_FIELDS", "TRANSFER_MODES", "SPLIT_MODES",
                 "RECOVERY_MODES")},
}

# a module that finds a file beside it: its path after the move (file, text before, text after)
FIXUPS = [
    ("pytest_rec/model/catalogue.py", 'SPECS = Path(__file__).resolve().parent / "specs"',
     'SPECS = Path(__file__).resolve().parents[1] / "specs"'),
    ("pytest_rec/report/html.py", 'TOOLS = Path(__file__).resolve().parent / "report-tools"',
     'TOOLS = Path(__file__).resolve().parents[1] / "report-tools"'),
]

# each new package's docstring: what it holds and what it may import (tests/test_architecture.py holds it)
PACKAGES = {
    "client": "The HTTP side of a run: the REST client (log-in, renewal, 503 back-off, job waiting, paged\n"
              "lists), the allow-list guard every request passes, the redacted transcript, and the console\n"
              "line while the run waits on the array.\n\n"
              "May import: ``pytest_rec.errors``. Nothing of the model, the engine or above.",
    "model": "The expected behaviour and what the suite assumes: pure functions and dataclasses from the\n"
             "seed page and the contract, the case matrix, body shapes, the dry run's plan, the target file\n"
             "and profile, the requirement catalogue. Nothing here talks to an array.\n\n"
             "May import: ``pytest_rec.errors``. Never the client (no HTTP), the engine or above.",
    "engine": "Running checks against a target: the run's context, the session pool and the operator\n"
              "(reading, reaching a state, putting back), judging one PATCH, the preflight, the restore\n"
              "journal, the ways back, the fuzzing bodies.\n\n"
              "May import: ``client``, ``model``, ``pytest_rec.errors``. Never report, gate or plugin.",
    "report": "What a run says, from data: the summary (compliance.json / .md, the verdict line), the seed\n"
              "sign-off, the verdict's words, the Allure results and the HTML report.\n\n"
              "May import: ``model``, ``client`` (the transcript's exchanges), ``pytest_rec.errors``.\n"
              "Never the engine or the plugin.",
    "gate": "Release gating over the summaries of finished runs: known deviations, ``rec-compare`` and\n"
            "``rec-merge``.\n\n"
            "May import: ``report``, ``model``, ``pytest_rec.errors``. Never the engine or the plugin.",
}

TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".txt", ".sh", ".json", ""}
SKIP = {"tools/restructure.py", "tests/test_restructure.py"}     # they name the old modules on purpose
DOTTED = re.compile(r"\bpytest_rec(?:\.[A-Za-z_]\w*)+")
PATHS = re.compile(r"\bpytest_rec/((?:\w+/)*\w+)\.py\b")
OLD_OF = {new: old for old, new in MODULES.items()}


def path_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def current_modules() -> set[str]:
    out = set()
    for p in (ROOT / PKG).rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.add(".".join(parts))
    return out


def is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").exists()


# --------------------------------------------------------------------------- moves
def make_packages() -> list[str]:
    made = []
    for name, doc in PACKAGES.items():
        init = ROOT / PKG / name / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}\n"""\n', encoding="utf-8")
            made.append(str(init.relative_to(ROOT)))
    return made


def move_modules() -> dict[str, str]:
    """git mv each old module to its new place; returns {new path: old module} of the moves made now."""
    moved = {}
    for old, new in MODULES.items():
        src, dst = path_of(old), path_of(new)
        if not src.exists() or dst.exists():
            continue            # made before (or never there); a file at both places is left for a person
        dst.parent.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["git", "mv", str(src), str(dst)], cwd=ROOT, capture_output=True).returncode:
            shutil.move(str(src), str(dst))
        moved[str(dst.relative_to(ROOT))] = old
    return moved


# --------------------------------------------------------------------------- the name rules
def new_name(dotted: str, known: set[str], *, bare_is_old: bool) -> str:
    """The name ``dotted`` has after the move (itself when it is new already or names nothing moved).
    A bare old name that is now a package (``pytest_rec.gate``) stays unless ``bare_is_old``."""
    parts = dotted.split(".")
    old = next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in MODULES), None)
    cur = next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in known), None)
    out = dotted
    if old is not None and not (cur is not None and len(cur) > len(old)):
        if not (cur == old and dotted == old and not bare_is_old):
            out = MODULES[old] + dotted[len(old):]
    parts = out.split(".")
    for k in range(len(parts) - 1, 0, -1):      # a name handed on by a module that does not define it
        where = symbol_home(".".join(parts[:k]), parts[k])
        if where:
            return where + "." + ".".join(parts[k:])
    return out


_DEFINED: dict[str, set[str]] = {}


def defines(module: str, name: str) -> bool:
    """Whether ``module``'s file defines ``name`` at its top level (a def, a class, an assignment)."""
    if module not in _DEFINED:
        path, names = path_of(module), set()
        if path.exists():
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                        names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        _DEFINED[module] = names
    return name in _DEFINED[module]


def symbol_home(module: str, name: str) -> str | None:
    """Where to import ``name`` from instead of ``module`` (SYMBOLS), once it is defined there and no
    longer in ``module``: so the hand-made moves are followed only in a tree that has them."""
    where = SYMBOLS.get((module, name))
    if where and defines(where, name) and not defines(module, name):
        return where
    return None


def split_names(module: str, names: list[ast.alias], known: set[str]) -> dict[str, list[ast.alias]]:
    """For ``from module import names``: the new module of each name, in order of first appearance."""
    groups: dict[str, list[ast.alias]] = {}
    collides = module in MODULES and module in known and is_package(module)
    new_style = collides and all(f"{module}.{a.name}" in known for a in names)
    for a in names:
        if f"{module}.{a.name}" in MODULES:                    # from pytest_rec import progress
            target = MODULES[f"{module}.{a.name}"]
            base, leaf = target.rsplit(".", 1)
            groups.setdefault(base, []).append(ast.alias(leaf, a.asname or (a.name if leaf != a.name else None)))
            continue
        mod = module if new_style else new_name(module, known, bare_is_old=True)
        mod = symbol_home(mod, a.name) or mod
        groups.setdefault(mod, []).append(a)
    return groups


def _names_text(names: list[ast.alias]) -> str:
    return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in names)


def _from_line(prefix: str, names: list[ast.alias], indent: str) -> str:
    line = f"from {prefix} import {_names_text(names)}"
    if len(indent) + len(line) <= 120:
        return line
    out, cur = [], f"from {prefix} import ("
    for k, a in enumerate(names):
        piece = a.name + (f" as {a.asname}" if a.asname else "") + ("," if k < len(names) - 1 else ")")
        if len(indent) + len(cur) + len(piece) + 1 > 120 and not cur.endswith("("):
            out.append(cur.rstrip())
            cur = " " * len(f"from {prefix} import (")
        cur += piece + " "
    out.append(cur.rstrip())
    return ("\n" + indent).join(out)


def _relative(target: str, package: str) -> str:
    """``target`` written relative to ``package`` (the importing module's package)."""
    t, p = target.split("."), package.split(".")
    common = 0
    while common < min(len(t), len(p)) and t[common] == p[common]:
        common += 1
    return "." * (len(p) - common + 1) + ".".join(t[common:])


def _module_of(rel: Path) -> tuple[str, bool]:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _resolve(level: int, module: str | None, package: str) -> str:
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def rewrite_python(text: str, rel: Path, moved_from: str | None, known: set[str]) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return rewrite_text(text, known)
    name, is_pkg = _module_of(rel)
    inside = name.split(".")[0] == PKG
    package = name if is_pkg else name.rsplit(".", 1)[0]
    # every old module sat in pytest_rec/ itself: a relative import written there (in a file moved now, or
    # in a line merged in later that names nothing at the file's new place) is read from there
    old_package = moved_from.rsplit(".", 1)[0] if moved_from else PKG
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if not inside:
                    continue
                if moved_from:
                    absolute = _resolve(node.level, node.module, old_package)
                else:
                    absolute = _resolve(node.level, node.module, package)
                    if absolute not in known and absolute not in MODULES:
                        absolute = _resolve(node.level, node.module, old_package)
            else:
                absolute = node.module or ""
            if not absolute.startswith(PKG):
                continue
            groups = split_names(absolute, node.names, known)
            prefixes = {mod: (_relative(mod, package) if node.level else mod) for mod in groups}
            original = "." * node.level + (node.module or "")
            start = offsets[node.lineno - 1] + node.col_offset
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            mod, names = next(iter(groups.items()))
            if len(groups) == 1 and [(a.name, a.asname) for a in names] == \
                    [(a.name, a.asname) for a in node.names]:
                if prefixes[mod] == original:
                    continue
                # only the module changes: keep the statement's own layout of its names
                new = re.sub(r"^from\s+" + re.escape(original) + r"\s+import\b", f"from {prefixes[mod]} import",
                             text[start:end])
                if node.col_offset + max(len(ln) for ln in new.split("\n")) > 120:
                    new = _from_line(prefixes[mod], names, " " * node.col_offset)
            else:
                indent = " " * node.col_offset
                new = ("\n" + indent).join(_from_line(prefixes[m], n, indent) for m, n in groups.items())
            if text[start:end] != new:
                edits.append((start, end, new))
            continue
        elif isinstance(node, ast.Import):
            names = [ast.alias(new_name(a.name, known, bare_is_old=True), a.asname) for a in node.names]
            if [a.name for a in names] == [a.name for a in node.names]:
                continue
            new = "import " + _names_text(names)
        else:
            continue
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        if text[start:end] != new:
            edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return rewrite_text(text, known)


def rewrite_text(text: str, known: set[str]) -> str:
    def dotted(m: re.Match) -> str:
        before = text[max(0, m.start() - 8):m.start()]
        bare_is_old = bool(re.search(r"-m\"?,?\s*\"?$", before)) or text[m.end():m.end() + 1] == ":"
        imported = re.match(r"\s+import\s+(\w+(?:\s*,\s*\w+)*)", text[m.end():])    # code in a string
        if imported and before.endswith("from "):
            bare_is_old = not all(f"{m.group(0)}.{n.strip()}" in known for n in imported.group(1).split(","))
        return new_name(m.group(0), known, bare_is_old=bare_is_old)

    def path(m: re.Match) -> str:
        module = PKG + "." + m.group(1).replace("/", ".")
        if module in MODULES and not path_of(module).exists():
            return MODULES[module].replace(".", "/") + ".py"
        return m.group(0)

    return PATHS.sub(path, DOTTED.sub(dotted, text))


# --------------------------------------------------------------------------- the files
def text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    files = []
    for rel in out:
        p = ROOT / rel
        if not rel or rel in SKIP or not p.is_file() or "node_modules" in p.parts:
            continue
        if p.suffix in TEXT_SUFFIXES and p.name != "package-lock.json":
            files.append(p)
    return files


def main() -> int:
    made = make_packages()
    moved = move_modules()
    known = current_modules()
    changed = []
    for p in text_files():
        rel = p.relative_to(ROOT)
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "pytest_rec" not in text and not (p.suffix == ".py" and str(rel).startswith(PKG + "/")):
            continue
        if p.suffix == ".py":
            new = rewrite_python(text, rel, moved.get(str(rel)), known)
        else:
            new = rewrite_text(text, known)
        if new != text:
            p.write_text(new, encoding="utf-8")
            changed.append(str(rel))
    for rel, before, after in FIXUPS:
        p = ROOT / rel
        if p.exists() and before in (text := p.read_text(encoding="utf-8")):
            p.write_text(text.replace(before, after), encoding="utf-8")
            changed.append(rel + " (fixup)")
    for what, items in (("packages made", made), ("moved", [f"{MODULES[o]} <- {o}" for o in moved.values()]),
                        ("rewritten", changed)):
        print(f"{what}: {len(items)}")
        for item in items:
            print("  " + item)
    return 0


if __name__ == "__main__":
    sys.exit(main())
