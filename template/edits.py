"""The answers, and text edits that check they applied.

Every edit raises ``TemplateError`` when its target is not found exactly once, so a template file
that changed shape stops generation with a message naming the edit, instead of producing a project
with a dangling import or setting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields


class TemplateError(RuntimeError):
    """An edit no longer matches the template's files; the message names the edit to update."""


@dataclass(frozen=True)
class Answers:
    project_name: str
    python_name: str
    description: str
    database_name: str
    leaky_twin: bool
    load_lab: bool
    redis: bool
    speedups: bool = True

    @classmethod
    def from_json(cls, text: str) -> Answers:
        values = json.loads(text)
        return cls(**{field.name: values[field.name] for field in fields(cls)})


def _mismatch(where: str, target: str, count: int) -> TemplateError:
    return TemplateError(
        f"{where}: expected {target!r} once, found it {count} times; the file changed shape: "
        "update the edit in template/ (docs/template.md says how)"
    )


def replace_once(text: str, old: str, new: str, *, where: str) -> str:
    if text.count(old) != 1:
        raise _mismatch(where, old, text.count(old))
    return text.replace(old, new)


def sub_once(text: str, pattern: str, new: str, *, where: str) -> str:
    result, count = re.subn(pattern, new, text, flags=re.MULTILINE)
    if count != 1:
        raise _mismatch(where, pattern, count)
    return result


def drop_array_item(text: str, item: str) -> str:
    """Remove ``"item"`` from every TOML array that holds it (a line of its own, or inline)."""
    quoted = re.escape(json.dumps(item))
    text = re.sub(rf"^ *{quoted},\n", "", text, flags=re.MULTILINE)
    text = re.sub(rf"{quoted}, ", "", text)
    text = re.sub(rf"\[{quoted}\]", "[]", text)  # the last item: the array stays, empty
    return re.sub(rf", {quoted}(?=\])", "", text)
