"""``python -P -m load.run.asgi_check DIR MODULE:ATTR``: does the app import, and is it ASGI?

Run by the lab in a process of its own, with the app's folder first on the path and the app's
environment, before it starts anything: a module that does not import, a missing attribute or
something that is not an ASGI app is then one line naming the fix rather than a server that dies
at start. It prints nothing when the app is fine (exit 0), else what is wrong (exit 1).
Standard library only: it must not import anything the app's folder could shadow.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback


def is_asgi(candidate: object) -> bool:
    """A callable that takes (scope, receive, send), as an ASGI 3 server calls it."""
    if not callable(candidate):
        return False
    try:
        inspect.signature(candidate).bind(None, None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): let the server decide
        return True
    return True


def problem(app_dir: str, spec: str) -> str | None:
    """What stops ``spec`` (MODULE:ATTR) from being served from ``app_dir``, or None."""
    module_name, _, attribute = spec.partition(":")
    sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:  # whatever the import raised is the answer
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        return f"{spec} does not import from {app_dir}: {last}"
    found: object = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            return (
                f"{spec}: module {module_name} ({getattr(module, '__file__', '?')}) has no "
                f"attribute {attribute!r}; give MODULE:ATTR of your ASGI app"
            )
        found = getattr(found, part)
    if not is_asgi(found):
        return (
            f"{spec} is a {type(found).__name__}, not an ASGI app (a callable taking scope, "
            "receive, send); give MODULE:ATTR of your app object (FastAPI(), Starlette()...)"
        )
    return None


def main() -> None:
    app_dir, spec = sys.argv[1], sys.argv[2]
    found = problem(app_dir, spec)
    if found is not None:
        print(" ".join(found.split()))  # one line, whatever the error's message held
        sys.exit(1)


if __name__ == "__main__":
    main()
