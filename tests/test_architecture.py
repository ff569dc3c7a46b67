"""The layout reads as the architecture: packages whose imports point only downwards (package to
package, with a control case that adds an upward import), no import cycle inside pytest_rec (imports
inside functions included), a simulator that imports nothing of the suite, a model that does no I/O,
no module over 450 lines, no class over 150, and a README layout section that names every package
and module."""

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pytest_rec"
MAX_LINES = 450
MAX_CLASS_LINES = 150

# the layers (README "Layout", docs/architecture.md): what each package may import besides itself.
# "root" is pytest_rec/__init__.py (the version), "errors" pytest_rec/errors.py, "cli" the two CLI modules
ALLOWED = {
    "root": set(),
    "errors": set(),
    "model": {"errors"},
    "client": {"errors"},
    "engine": {"client", "model", "errors"},
    "report": {"client", "model", "errors"},
    "gate": {"report", "model", "errors"},
    "plugin": {"engine", "report", "gate", "client", "model", "errors", "simulator", "root"},
    "suite": {"plugin", "engine", "model", "client", "errors"},
    "cli": {"plugin", "engine", "report", "gate", "client", "model", "errors", "simulator", "root"},
    "simulator": set(),
}
# what the model never imports: anything that talks to an array or to another process
IO_MODULES = {"httpx", "socket", "ssl", "subprocess", "urllib", "http", "requests", "starlette", "uvicorn",
              "multiprocessing", "pytest"}


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for p in (root / "pytest_rec").rglob("*.py")}


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


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = _modules(root)
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


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in ("cli", "cli_restore"):
        return "cli"
    return parts[1]


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module whose package may not import the other's (ALLOWED), and every module
    of a package the layers do not name."""
    bad = []
    for mod, deps in sorted(graph.items()):
        layer = _layer(mod)
        if layer not in ALLOWED:
            bad.append(f"{mod}: package {layer!r} is in no layer (tests/test_architecture.py ALLOWED)")
            continue
        bad += [f"{mod} -> {d}" for d in sorted(deps) if _layer(d) != layer and _layer(d) not in ALLOWED[layer]]
    return bad


def test_imports_point_downwards():
    bad = _upward(_graph())
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_an_upward_import_is_caught(tmp_path):
    """The control case: a copy of the package with one upward import added (the model importing the
    plugin, inside a function, as a lazy import would) fails the rule, naming that import alone."""
    shutil.copytree(PKG, tmp_path / "pytest_rec", ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    model = tmp_path / "pytest_rec" / "model" / "behaviour.py"
    model.write_text(model.read_text(encoding="utf-8") + "\n\ndef _up():\n    from ..plugin import opt_in\n",
                     encoding="utf-8")
    assert _upward(_graph(tmp_path)) == ["pytest_rec.model.behaviour -> pytest_rec.plugin"]
    assert not _upward(_graph(ROOT))


def test_each_package_says_what_it_may_import():
    for init in sorted(PKG.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "may import" in doc.lower(), f"{init.relative_to(ROOT)}: its docstring says what it may import"
        assert init.parent.name in ALLOWED, f"{init.parent.name}/ is in no layer of ALLOWED"


def test_model_does_no_io():
    """The model is pure: none of its modules imports a library that talks to an array or a process."""
    bad = {}
    for path in sorted((PKG / "model").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.add((node.module or "").split(".")[0])
        if names & IO_MODULES:
            bad[path.name] = sorted(names & IO_MODULES)
    assert not bad, f"the model imports I/O: {bad}"


def _long_classes(source: str, limit: int = MAX_CLASS_LINES) -> list[str]:
    return [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.ClassDef) and n.end_lineno - n.lineno + 1 > limit]


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_class_size(path):
    long = _long_classes(path.read_text(encoding="utf-8"))
    assert not long, f"{path.relative_to(ROOT)}: {long} (a class at most {MAX_CLASS_LINES} lines: split it by job)"


def test_class_size_check_can_fail():
    body = "\n".join(f"    x{k} = {k}" for k in range(MAX_CLASS_LINES))
    assert _long_classes(f"class Big:\n{body}\n") == [f"Big ({MAX_CLASS_LINES + 1} lines)"]
    assert _long_classes("class Small:\n    pass\n") == []


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def _layout_entries() -> tuple[dict[str, int], set[str]]:
    """Each module the README's layout block names at the start of a line of its own (a top-level
    ``pytest_rec/x.py``, or an indented ``x.py`` under the latest ``pytest_rec/dir/`` line), and how
    many lines name it; and the package folders it names (``pytest_rec/dir/``)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = next(b for b in section.split("```")[1::2] if "pytest_rec/" in b)
    folder, out, folders = "", {}, set()
    for line in block.splitlines():
        first = line.split()[0] if line.split() else ""
        if not line.startswith(" ") and first.startswith("pytest_rec/"):
            folder = first if first.endswith("/") else ""
            folders |= {folder} if folder else set()
            name = "" if first.endswith("/") else first
        elif line.startswith("  ") and not line.startswith("   ") and first.endswith(".py") and folder:
            name = folder + first
        else:
            continue
        if name:
            out[name] = out.get(name, 0) + 1
    return out, folders


def test_readme_layout_names_every_module():
    """One line per module, both ways: every module of the package has exactly one line, and every
    line names a module that exists; every package has its folder line, packages before modules."""
    entries, folders = _layout_entries()
    modules = {p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py") if p.name != "__init__.py"}
    packages = {p.parent.relative_to(ROOT).as_posix() + "/" for p in PKG.glob("*/__init__.py")}
    assert not modules - set(entries), f"README's layout section has no line for: {sorted(modules - set(entries))}"
    assert not set(entries) - modules, f"README's layout section names modules that do not exist: " \
                                       f"{sorted(set(entries) - modules)}"
    assert all(n == 1 for n in entries.values()), {k: n for k, n in entries.items() if n > 1}
    assert folders == packages, f"package folders: README names {sorted(folders)}, the tree has {sorted(packages)}"
    order = [ln.split()[0] for ln in (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
             .splitlines() if ln.startswith("pytest_rec/")]
    last_package = max(k for k, n in enumerate(order) if n.endswith("/"))
    assert all(n.endswith("/") for n in order[:last_package]), "the layout lists packages first, then modules"
