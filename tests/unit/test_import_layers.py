"""The package's shape, checked from its imports: the platform never imports a domain, domains never import the
API assembly, and neither modules nor domains import each other in a circle.

Imports inside functions count too: a late import is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "viral"
PLATFORM = {
    "__init__",
    "errors",
    "settings",
    "tenancy",
    "observability",
    "wire",
    "vocabulary",
    "caller",
    "db",
    "aws",
    "http",
    "webhooks",
}
ENTRY_POINTS = {"api", "cli"}  # above every domain: only functions/ and local tools import them


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("viral"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if base.startswith("viral"):
                # `from viral.x import y` may name a module y: count it, as a look at the file tree would
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    yield candidate if _exists(candidate) else base


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = {m for m in _imports(path) if _exists(m)}
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """One circle of imports (its members in order), or [] when the graph has none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return list(error.args[1])
    return []


def _without_packages_importing_their_children(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ re-exporting its own modules is not a circle between them.
    return {src: {t for t in targets if not t.startswith(src + ".")} for src, targets in graph.items()}


def test_the_platform_imports_no_domain_and_no_entry_point() -> None:
    upward = [
        f"{src} -> {target}"
        for src, targets in _graph().items()
        if _area(src) in PLATFORM
        for target in targets
        if _area(target) not in PLATFORM
    ]
    assert upward == []


def test_domains_never_import_the_entry_points() -> None:
    upward = [
        f"{src} -> {target}"
        for src, targets in _graph().items()
        if _area(src) not in PLATFORM | ENTRY_POINTS
        for target in targets
        if _area(target) in ENTRY_POINTS
    ]
    assert upward == []


def test_no_module_imports_itself_through_a_circle() -> None:
    assert _cycles(_without_packages_importing_their_children(_graph())) == []


def test_domains_depend_on_each_other_one_way() -> None:
    domains: dict[str, set[str]] = {}
    for src, targets in _graph().items():
        if _area(src) in PLATFORM | ENTRY_POINTS:
            continue
        domains.setdefault(_area(src), set()).update(
            _area(t) for t in targets if _area(t) not in PLATFORM and _area(t) != _area(src)
        )
    assert _cycles(domains) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, {"a", "b"}),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, set()),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, {"a", "b", "c"}),
    ],
)
def test_the_circle_finder_itself(edges: dict[str, set[str]], expected: set[str]) -> None:
    assert set(_cycles(edges)) == expected
