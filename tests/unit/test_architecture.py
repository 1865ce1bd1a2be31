"""The shape of app/ (DESIGN.md "Layers" and its module map), read from the code with `ast`:
no import circles among modules or among packages, and the directions between the rooms.

Every import statement counts — at module level or inside a function — except those under
`if TYPE_CHECKING:` (they never run). A failure names the circle or the offending import."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

# The rooms of app/ (besides the core modules at its top) and what each is for.
PACKAGES = {"domain", "storage", "coordinators", "incidents", "stakeholders", "messages", "sending", "clocks",
            "reports", "demo", "backups", "record", "mailbox", "acks"}
CORE = {"clock", "config", "errors", "events", "logs", "paths", "runtime", "timefmt"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> list[Edge]:
    """The modules of `known` that module `name` imports, as edges (line numbers kept).
    `from X import Y` counts as importing X.Y when that is a module, else X."""
    tree = ast.parse(source)
    skipped = _type_checking_nodes(tree)
    found: list[Edge] = []

    def add(target: str, line: int) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        # A module's own packages are loaded before it whatever it imports: not an arrow.
        if target and target != name and not name.startswith(target + "."):
            found.append(Edge(name, target, line))

    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                add(full if full in known else module, node.lineno)
    return found


def app_graph() -> list[Edge]:
    files = {module_name(p): p for p in APP.rglob("*.py")}
    known = set(files)
    edges: list[Edge] = []
    for name, path in sorted(files.items()):
        edges += imports_of(path.read_text(encoding="utf-8"), name,
                            path.name == "__init__.py", known)
    return edges


def circles(nodes: set[str], arrows: set[tuple[str, str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each as a sorted list."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in arrows:
        out[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in out[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return found


def describe(group: list[str], edges: list[Edge], room) -> str:  # type: ignore[no-untyped-def]
    members = set(group)
    ties = sorted({f"{e.source}:{e.line} -> {e.target}" for e in edges
                   if room(e.source) in members and room(e.target) in members
                   and room(e.source) != room(e.target)})
    return " <-> ".join(group) + "\n    " + "\n    ".join(ties)


def child_of(package: str, module: str) -> str | None:
    """The direct child of `package` that holds `module` (itself a module or a sub-package)."""
    if not module.startswith(package + "."):
        return None
    return package + "." + module[len(package) + 1:].split(".")[0]


# ---------------------------------------------------------------- the checker itself

def test_the_checker_sees_every_form_of_import_and_skips_type_checking():
    known = {"app", "app.a", "app.b", "app.pkg", "app.pkg.c", "app.pkg.d"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "import app.a\n"
        "from app import b\n"
        "from .d import thing\n"
        "def later():\n"
        "    from app.pkg import c\n"
        "if TYPE_CHECKING:\n"
        "    from app.b import Hidden\n"
        "    import app.pkg.d\n"
    )
    edges = imports_of(source, "app.pkg.c", False, known)
    assert [(e.target, e.line) for e in edges] == [("app.a", 2), ("app.b", 3), ("app.pkg.d", 4)]
    assert [e.target for e in imports_of("from . import c\n", "app.pkg", True, known)] \
        == ["app.pkg.c"]
    assert [e.target for e in imports_of("from .. import a\n", "app.pkg.c", False, known)] \
        == ["app.a"]


def test_the_checker_finds_a_circle_through_a_function_level_import():
    known = {"app.x", "app.y", "app.z"}
    edges = (imports_of("import app.y\n", "app.x", False, known)
             + imports_of("def f():\n    from app.z import g\n", "app.y", False, known)
             + imports_of("from app import x\n", "app.z", False, known))
    found = circles(known, {(e.source, e.target) for e in edges})
    assert found == [["app.x", "app.y", "app.z"]]
    assert "app.y:2 -> app.z" in describe(found[0], edges, lambda m: m)


# ---------------------------------------------------------------- the house

@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return app_graph()


def test_app_is_grouped_by_capability():
    top = {p.stem for p in APP.glob("*.py")} - {"__init__"}
    assert top == CORE, "only the core modules sit directly in app/; the rest belongs to a room"
    rooms = {p.name for p in APP.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms == PACKAGES
    for init in APP.rglob("__init__.py"):
        if "migrations" in init.parts:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(ROOT)} should say in a few lines what the package is for"


def test_no_circle_among_modules(edges):
    nodes = {e.source for e in edges} | {e.target for e in edges}
    found = circles(nodes, {(e.source, e.target) for e in edges})
    assert not found, "import circles:\n" + "\n".join(
        describe(g, edges, lambda m: m) for g in found)


def test_no_circle_among_packages_at_any_level(edges):
    packages = {module_name(p.parent) for p in APP.rglob("__init__.py")}
    problems = []
    for package in sorted(packages):
        def room(module: str, package: str = package) -> str | None:
            return child_of(package, module)
        arrows = {(room(e.source), room(e.target)) for e in edges
                  if room(e.source) and room(e.target) and room(e.source) != room(e.target)}
        nodes = {a for a, _ in arrows} | {b for _, b in arrows}
        problems += [describe(g, edges, room) for g in circles(nodes, arrows)]  # type: ignore[arg-type]
    assert not problems, "circles between packages:\n" + "\n".join(problems)


def _offenders(edges: list[Edge], source_prefix: str, allowed) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f"{e.source}:{e.line} imports {e.target}" for e in edges
                  if (e.source == source_prefix or e.source.startswith(source_prefix + "."))
                  and not allowed(e.target))


def _is_core(module: str) -> bool:
    return module == "app" or module.split(".")[1] in CORE


def test_core_modules_import_only_core(edges):
    offenders = [f"{e.source}:{e.line} imports {e.target}" for e in edges
                 if _is_core(e.source) and not _is_core(e.target)]
    assert offenders == []


def test_domain_imports_no_service(edges):
    assert _offenders(edges, "app.domain",
                      lambda t: _is_core(t) or t.startswith("app.domain")) == []


def test_storage_imports_no_capability(edges):
    assert _offenders(edges, "app.storage", lambda t: _is_core(t) or t.startswith(
        ("app.domain", "app.storage"))) == []


def test_channels_send_bytes_and_know_no_storage_or_service(edges):
    allowed = ("app.domain.enums", "app.domain.dto", "app.sending.channels")
    assert _offenders(edges, "app.sending.channels",
                      lambda t: _is_core(t) or t.startswith(allowed)) == []


def test_the_demo_sits_above_everything(edges):
    below = [f"{e.source}:{e.line}" for e in edges
             if e.target.startswith("app.demo") and not e.source.startswith("app.demo")]
    assert below == []


def test_the_checks_mean_something(edges):
    """The graph really is read: the composer's known arrows are in it."""
    pairs = {(e.source, e.target) for e in edges}
    assert ("app.messages.composer", "app.messages.library") in pairs
    assert ("app.sending.runner", "app.sending.outbox") in pairs
    assert ("app.demo.seed", "app.sending.outbox") in pairs  # a function-level import
    assert len(edges) > 150


def test_the_readme_lists_every_package_and_nothing_else():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`((?:app|ui)/[\w/]*?)/?`", section))
    named |= {f"{parent}/{child}" for parent, child in
              re.findall(r"`((?:app|ui)/\w+)/`[^`\n]*?`(\w+)/`", section)}
    folders = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("[au][pi]*/**/__init__.py")
               if "migrations" not in p.parts}
    folders.discard("app")
    folders.discard("ui")
    missing = sorted(folders - named)
    stale = sorted(n for n in named if n.count("/") and not (ROOT / n).exists())
    assert not missing, f"README 'How the code is laid out' does not name {missing}"
    assert not stale, f"README 'How the code is laid out' names what does not exist: {stale}"
