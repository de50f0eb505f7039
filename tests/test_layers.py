"""The package's layers: folders that import only downwards, with no import circle, and only the
command line importing typer, click or rich. The import graph is read from the source (imports
inside functions count; those under `if TYPE_CHECKING:` never run, so they do not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "adcli"

# Each layer may import its own modules and those of lower layers. The modules at the top of adcli/
# are the base every layer shares, except `ops` (the language's functions for Python, over dual
# numbers) and `__main__`, which sit above everything they use.
LAYERS = {"base": 0, "operations": 1, "language": 2, "engine": 3, "explain": 4, "export": 5, "editor": 6, "cli": 7,
          "api": 8}
BASE = {"errors", "limits", "numbers", "symbols", "cachedir"}
API = {"ops", "__main__"}
INTERFACE = {"typer", "click", "rich"}
MOST_AT_THE_TOP = 12


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """The layer of an adcli module: its folder, or base/api for the modules at the top."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"  # the package itself: `from adcli import __version__`
    if len(parts) == 2 and (PACKAGE / f"{parts[1]}.py").exists():
        return "api" if parts[1] in API else "base"
    return parts[1]


def imports(path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import in a file, adcli's modules resolved to their names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and getattr(node.test, "id", "") ==
              "TYPE_CHECKING" for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: a relative import"
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((candidate if candidate in modules else node.module, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


GRAPH = graph()


def test_imports_point_down_the_layers():
    upward = [f"{module} ({layer(module)}) imports {target} ({layer(target)}) at line {line}"
              for module, found in GRAPH.items() for target, line in found
              if target in GRAPH and LAYERS[layer(target)] > LAYERS[layer(module)]]
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    """Tarjan's strongly connected components, iteratively: any with two modules is a circle."""
    edges = {m: sorted({t for t, _ in found if t in GRAPH and t != m and t != "adcli"}) for m, found in GRAPH.items()}
    index, low, on_stack, stack, circles, counter = {}, {}, set(), [], [], 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    assert not circles, circles


def test_only_the_command_line_imports_typer_click_or_rich():
    outside = [f"{module} imports {target} at line {line}" for module, found in GRAPH.items()
               if layer(module) != "cli" for target, line in found if target.split(".")[0] in INTERFACE]
    assert not outside, "\n".join(outside)


def test_the_top_of_the_package_is_small_and_every_folder_says_what_it_owns():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MOST_AT_THE_TOP, top
    assert {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"} <= BASE | API, top
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"{folder.name}/__init__.py must say what it owns and what it may import"
        assert folder.name in LAYERS, folder.name


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_every_module_has_a_docstring(module):
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), module
