"""``python -m load.locust.check FILE``: does this locustfile import, and define users?

Run by the lab in a process of its own before it starts anything (importing locust patches the
whole process with gevent), so that a locustfile that cannot drive a run is one line naming the
fix, not a generator that dies a minute into the run. It imports the file as locust does (its
folder first on the path) and lists the User classes locust would run: subclasses of
``locust.User`` that are not ``abstract``. It prints their names (exit 0), or what is wrong
(exit 1).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from pathlib import Path

from locust import User


def users_of(path: Path) -> list[str]:
    """The runnable User classes the locustfile defines or imports, by name."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, User) and not value.abstract
    )


def main() -> None:
    path = Path(sys.argv[1])
    try:
        users = users_of(path)
    except BaseException as error:  # whatever importing it raised is the answer
        print(" ".join(traceback.format_exception_only(type(error), error)[-1].split()))
        sys.exit(1)
    if not users:
        print("it defines no User class (a subclass of locust's HttpUser, FastHttpUser or User)")
        sys.exit(1)
    print(",".join(users))


if __name__ == "__main__":
    main()
