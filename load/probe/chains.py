"""A back-reference chain as a reader writes it: ``app.mod._ITEMS (dict) -> ItemRead``.

objgraph finds the chain (a module, the objects in between, the held object); this names each
step the way code reaches it: a module's global, an attribute, a key, an index, a closure's
variable. Steps that code cannot name (a set's member, a frame) become ``(type) ->``.
"""

from __future__ import annotations

import types
from collections.abc import Sequence

MAX_KEY_CHARS = 40


def type_name(obj: object) -> str:
    return type(obj).__name__


def _key(key: object) -> str:
    text = repr(key)
    return text if len(text) <= MAX_KEY_CHARS else text[: MAX_KEY_CHARS - 3] + "..."


def step(holder: object, held: object) -> str | None:
    """How ``holder`` reaches ``held`` as code: ``.name``, ``[key]``, ``[index]``; None if it
    cannot be said (a set member, a frame's local)."""
    if isinstance(holder, dict):
        for key, value in holder.items():
            if value is held:
                return f"[{_key(key)}]"
        return None
    if isinstance(holder, list | tuple):
        for index, value in enumerate(holder):
            if value is held:
                return f"[{index}]"
        return None
    for name in ("__wrapped__", "__self__", "__func__", "cache_info"):
        if getattr(holder, name, None) is held:
            return f".{name}"
    attributes = getattr(holder, "__dict__", None)
    if attributes is held:
        return ""  # the next step names the attribute
    if isinstance(attributes, dict):  # an instance whose attributes are not a separate dict
        for name, value in attributes.items():
            if value is held:
                return f".{name}"
    return None


def _attribute_step(holder: object, held_dict: object, held: object) -> str | None:
    """``obj.__dict__[name]`` is written ``obj.name``."""
    owner = isinstance(holder, types.ModuleType) or getattr(holder, "__dict__", None) is held_dict
    if owner and isinstance(held_dict, dict):
        for key, value in held_dict.items():
            if value is held and isinstance(key, str):
                return f".{key}"
    return None


def describe_chain(chain: Sequence[object]) -> str:
    """``chain`` runs from a module to the held object (objgraph.find_backref_chain's order).

    Named steps accumulate into one expression; the last container is shown with its type
    (``_ITEMS (dict) -> ItemRead``), and so is any step code cannot name.
    """
    if not chain:
        return ""
    root, target = chain[0], chain[-1]
    expression = root.__name__ if isinstance(root, types.ModuleType) else type_name(root)
    parts: list[str] = []
    index = 0
    while index < len(chain) - 1:
        holder, held = chain[index], chain[index + 1]
        if index + 2 < len(chain) and isinstance(held, dict):
            named = _attribute_step(holder, held, chain[index + 2])
            if named is not None:
                expression += named
                index += 2
                continue
        if (
            isinstance(holder, types.FunctionType)
            and holder.__closure__ is not None
            and held is holder.__closure__
            and index + 2 < len(chain) - 1
        ):
            cell = chain[index + 2]
            pairs = zip(holder.__code__.co_freevars, holder.__closure__, strict=False)
            names = [name for name, candidate in pairs if candidate is cell]
            if names:
                expression += f".<closure {names[0]}>"
                index += 3  # past the closure tuple and the cell
                continue
        if index + 1 == len(chain) - 1:  # the last container: shown with its type
            parts.append(f"{expression} ({type_name(holder)})" if expression else type_name(holder))
            expression = ""
            break
        said = step(holder, held)
        if said is None:
            parts.append(f"{expression} ({type_name(holder)})" if expression else type_name(holder))
            expression = ""
        else:
            expression += said
        index += 1
    if expression:  # a global or attribute holds the target itself
        parts.append(expression)
    return " -> ".join([*parts, type_name(target)])
