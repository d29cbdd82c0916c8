"""The import graph of the project: every library module imports, no module reaches into another's
private names, and the module-level imports of ``rnn_research/``, ``experiments/`` and ``configs/``
form no cycle.

Read from the source with ``ast``, so a cycle or a private import is found even where the import
order of a test run happens to hide it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rnn_research", "experiments", "configs")


def module_name(path: Path) -> str:
    """``rnn_research/cells/base.py`` -> ``rnn_research.cells.base``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> dict[str, Path]:
    """Every project module under :data:`PACKAGES`, by dotted name."""
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[module_name(path)] = path
    return files


MODULES = project_files()


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_package(module: str) -> bool:
    return MODULES.get(module, Path()).name == "__init__.py"


def resolve(module: str | None, level: int, importer: str) -> str:
    """The absolute name of ``from <.module> import`` in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package(importer) else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed when the module is imported: top level, and inside ``if``/``try`` blocks,
    but not in functions, classes or ``if TYPE_CHECKING:``."""
    found = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)

    visit(tree.body)
    return found


TEST_FILES = {module_name(p): p for p in sorted((ROOT / "tests").rglob("*.py"))}


def parse(module: str) -> ast.Module:
    path = MODULES.get(module) or TEST_FILES[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def private_imports(module: str) -> list[str]:
    """``from project.x import _y``, ``import project._x``/``from project._x import y``, and
    ``x._y`` where ``x`` is bound to a project module by an import."""
    tree = parse(module)
    problems = []
    module_aliases = {}  # local name -> project module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_project(alias.name):
                    if any(is_private(part) for part in alias.name.split(".")):
                        problems.append(f"{module}:{node.lineno} imports {alias.name}")
                    if alias.asname:
                        module_aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = resolve(node.module, node.level, module)
            if not is_project(source):
                continue
            if any(is_private(part) for part in source.split(".")):
                problems.append(f"{module}:{node.lineno} imports from {source}")
            for alias in node.names:
                if is_private(alias.name):
                    problems.append(f"{module}:{node.lineno} imports {alias.name} from {source}")
                elif f"{source}.{alias.name}" in MODULES:
                    module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
            and is_private(node.attr)
        ):
            problems.append(f"{module}:{node.lineno} reads {module_aliases[node.value.id]}.{node.attr}")
    return problems


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules its module-level imports load (``from pkg import mod``
    points at ``pkg.mod``, ``from pkg import name`` at ``pkg``)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module in MODULES:
        for node in module_level_imports(parse(module)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = resolve(node.module, node.level, module)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names
                ]
            graph[module].update(t for t in targets if t in MODULES and t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("rnn_research")))
def test_every_library_module_imports(module):
    importlib.import_module(module)


def test_the_walk_finds_the_project():
    assert {"rnn_research.cells", "rnn_research.cells.base", "rnn_research.recurrent", "experiments.main"} <= set(
        MODULES
    )


def test_the_checks_catch_what_they_look_for():
    """The checkers themselves, on a cycle and on private imports written into the graph."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert is_private("_checks") and not is_private("__version__") and not is_private("checks")
    assert resolve("base", 1, "rnn_research.cells") == "rnn_research.cells.base"
    assert resolve(None, 1, "rnn_research.cells.minimal") == "rnn_research.cells"


def test_no_private_name_is_imported_across_modules():
    problems = [p for module in MODULES for p in private_imports(module)]
    assert not problems, "private names used across modules:\n" + "\n".join(problems)


def test_tests_call_public_names_only():
    """Tests exercise what users can call: no test imports or reads another module's private name."""
    problems = [p for module in TEST_FILES for p in private_imports(module)]
    assert not problems, "tests using private names:\n" + "\n".join(problems)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (module-level imports):\n" + "\n".join(" <-> ".join(c) for c in found)
