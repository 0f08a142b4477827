"""Statement-level edits of Python source, located with ``ast`` so they survive unrelated changes:
replace or delete a definition, delete statements that use a name, prune unused imports."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from template.edits import TemplateError

Statement = Callable[[ast.stmt], bool]


def _span(node: ast.stmt) -> tuple[int, int]:
    """0-based first line (decorators included) and end line (exclusive)."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    assert node.end_lineno is not None
    return first - 1, node.end_lineno


def _walk_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _walk_statements(getattr(node, field, []))


def _splice(source: str, spans: list[tuple[int, int]], replacement: list[str] | None) -> str:
    lines = source.splitlines(keepends=True)
    for first, end in sorted(spans, reverse=True):
        lines[first:end] = replacement or []
        # a deleted statement between blank lines leaves one blank line, not two
        while (
            first < len(lines)
            and first > 0
            and not lines[first].strip()
            and not lines[first - 1].strip()
        ):
            del lines[first]
    return "".join(lines)


def uses(node: ast.AST, names: set[str]) -> bool:
    return any(
        (isinstance(inner, ast.Name) and inner.id in names)
        or (isinstance(inner, ast.Constant) and inner.value in names)
        for inner in ast.walk(node)
    )


def delete_statements(source: str, matches: Statement, *, where: str, at_least: int = 1) -> str:
    tree = ast.parse(source)
    spans: list[tuple[int, int]] = []
    for node in _walk_statements(tree.body):
        if matches(node) and not any(first <= node.lineno - 1 < end for first, end in spans):
            spans.append(_span(node))
    if len(spans) < at_least:
        raise TemplateError(
            f"{where}: found {len(spans)} statements to delete, expected {at_least}+"
        )
    return _splice(source, spans, None)


def replace_definition(source: str, name: str, new: str, *, where: str) -> str:
    tree = ast.parse(source)
    found = [
        node
        for node in _walk_statements(tree.body)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name == name
    ]
    if len(found) != 1:
        raise TemplateError(f"{where}: expected one definition of {name}, found {len(found)}")
    return _splice(source, [_span(found[0])], [new])


def delete_imports_of(source: str, modules: set[str]) -> tuple[str, set[str]]:
    """Delete ``import``/``from`` statements of these modules (and their submodules); return the
    source and the names they bound."""
    tree = ast.parse(source)
    bound: set[str] = set()

    def dropped(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in modules)

    spans = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and dropped(node.module):
            bound |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from tests.support import redis_server``: a dropped module imported by name
            gone = {a.asname or a.name for a in node.names if dropped(f"{node.module}.{a.name}")}
            if not gone:
                continue
            bound |= gone
        elif isinstance(node, ast.Import) and any(dropped(a.name) for a in node.names):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            continue
        spans.append(_span(node))
    return _splice(source, spans, None), bound


def prune_unused_imports(source: str) -> str:
    """Drop names imported ``from x import ...`` that the module no longer uses."""
    tree = ast.parse(source)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {
        n.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    edits = []
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        kept = [a for a in node.names if (a.asname or a.name) in used]
        if len(kept) == len(node.names):
            continue
        names = [f"{a.name} as {a.asname}" if a.asname else a.name for a in kept]
        line = f"from {'.' * node.level}{node.module or ''} import {', '.join(names)}\n"
        if len(line) > 100:
            line = (
                f"from {'.' * node.level}{node.module or ''} import (\n"
                + "".join(f"    {n},\n" for n in names)
                + ")\n"
            )
        edits.append((_span(node), [line] if kept else []))
    for span, replacement in sorted(edits, reverse=True):
        source = _splice(source, [span], replacement)
    return source
