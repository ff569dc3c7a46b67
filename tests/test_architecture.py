"""The layout reads as the architecture: no import cycle inside pytest_rec (imports inside
functions included), a simulator that imports nothing of the suite, no module over 450 lines,
and a README layout section that names every module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pytest_rec"
MAX_LINES = 450


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every pytest_rec module ``name`` imports, at module level or inside a function."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rsplit(".", 1)[0]
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()          # imports under `if TYPE_CHECKING:` never run: not an edge
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name and t.startswith("pytest_rec"):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        deps = _imports(name, path, known)
        # importing a submodule runs its package's __init__ first, but that is not an edge of the
        # package importing its child; a package importing its own children is not a cycle either
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    """The check can fail: a made-up graph with a cycle is caught."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_simulator_imports_nothing_of_the_suite():
    graph = _graph()
    bad = {m: sorted(d for d in deps if not d.startswith("pytest_rec.simulator"))
           for m, deps in graph.items() if m.startswith("pytest_rec.simulator")}
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, f"the simulator must be independent of the suite: {bad}"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def _layout_entries() -> dict[str, int]:
    """Each module the README's layout block names at the start of a line of its own (a top-level
    ``pytest_rec/x.py``, or an indented ``x.py`` under the latest ``pytest_rec/dir/`` line), and how
    many lines name it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    folder, out = "", {}
    for line in block.splitlines():
        first = line.split()[0] if line.split() else ""
        if not line.startswith(" ") and first.startswith("pytest_rec/"):
            folder = first if first.endswith("/") else ""
            name = "" if first.endswith("/") else first
        elif line.startswith("  ") and not line.startswith("   ") and first.endswith(".py") and folder:
            name = folder + first
        else:
            continue
        if name:
            out[name] = out.get(name, 0) + 1
    return out


def test_readme_layout_names_every_module():
    """One line per module, both ways: every module of the package has exactly one line, and every
    line names a module that exists."""
    entries = _layout_entries()
    modules = {p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py")
               if p.name != "__init__.py" or p.parent.name == "plugin"}
    modules = {m.replace("pytest_rec/plugin/__init__.py", "pytest_rec/plugin/") for m in modules}
    named = set(entries) | {"pytest_rec/plugin/"}
    assert not modules - named, f"README's layout section has no line for: {sorted(modules - named)}"
    assert not set(entries) - modules, f"README's layout section names modules that do not exist: " \
                                       f"{sorted(set(entries) - modules)}"
    assert all(n == 1 for n in entries.values()), {k: n for k, n in entries.items() if n > 1}
