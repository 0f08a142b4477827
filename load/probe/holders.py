"""Where a module-level holder is written: the lines that add to ``_ITEMS`` or ``_TASKS``.

A back-reference chain ends at a module global; the reader's next question is which line puts
things into it. The module's source answers: assignments to an item or attribute of the name,
and calls of its adding methods (``add``, ``append``, ``setdefault``...), or, for a cached
function, the function's definition.
"""

from __future__ import annotations

import ast
from pathlib import Path

ADDING_METHODS = frozenset(
    {"add", "append", "appendleft", "extend", "insert", "setdefault", "update", "__setitem__"}
)
CACHING_DECORATORS = frozenset({"lru_cache", "cache", "cached"})


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def writes_to(source: str, name: str) -> list[int]:
    """Line numbers in ``source`` that add to the module global ``name``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript | ast.Attribute) and _is_name(
                    target.value, name
                ):
                    lines.add(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ADDING_METHODS and _is_name(node.func.value, name):
                lines.add(node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                label = (
                    called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
                )
                if label in CACHING_DECORATORS:
                    lines.add(node.lineno)
    return sorted(lines)


def written_at(module_file: str | None, name: str) -> list[str]:
    """``file:line`` for each write to ``name`` in the module's source (none if unreadable)."""
    if not module_file or not module_file.endswith(".py"):
        return []
    try:
        source = Path(module_file).read_text()
    except OSError:
        return []
    return [f"{module_file}:{line}" for line in writes_to(source, name)]
