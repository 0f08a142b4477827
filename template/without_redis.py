"""Take the Redis cache backend out of a generated project (answer ``redis: false``).

copier.yml leaves out app/redis_cache.py and the tests' Redis helper; these edits remove what
the rest of the code holds of it: the imports, the settings, the lifespan's choice of backend,
the Redis half of the cache tests. The in-process ``BoundedCache`` stays the one backend.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from template import pysource
from template.edits import TemplateError

REDIS_MODULES = {"redis", "app.redis_cache", "tests.support.redis_server"}

IN_PROCESS_CACHE = '''\
def create_cache(settings: Settings) -> Caches:
    """In-process, one per worker and resource: bounded in entries and in time."""
    return bounded_caches(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s)
'''

IN_PROCESS_FIXTURE = """\
@pytest.fixture
def make_cache() -> CacheFactory:
    return lambda *, max_entries, ttl_s: BoundedCache[Entry](max_entries=max_entries, ttl_s=ttl_s)
"""

# Sentences that describe the Redis backend, and what they say without it.
PROSE = {
    ", close\nthe Redis client when the cache is shared)": ")",
    ", cache client closed": "",
    "per worker in-process, shared with cache_url (0: none)": "per worker (0: none)",
    (
        "``Cache`` is what the routes see. ``BoundedCache`` keeps entries in this worker (an LRU "
        "with a\nTTL); ``app.redis_cache.RedisCache`` keeps them in a Redis shared by every worker "
        "and replica.\nThe methods are async because the shared one is a network call; the "
        "in-process one answers at\nonce."
    ): (
        "``Cache`` is what the routes see; ``BoundedCache`` keeps entries in this worker (an LRU "
        "with a\nTTL). The methods are async so that a shared backend fits the same interface."
    ),
    "# calls that failed (Redis unreachable or slow) and were answered as a miss or a no-op": (
        "# calls that failed and were answered as a miss or a no-op (a shared backend's outage)"
    ),
    " entries per worker (or\none bounded Redis shared by all, ``app/redis_cache.py``).": (
        " entries\nper worker."
    ),
    "the in-process backend and the Redis backend pass the same tests.": (
        "bounds, expiry and counts of the in-process backend."
    ),
}


def _is_redis_setting(node: ast.stmt) -> bool:
    if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
        return False
    return "redis" in node.target.id or "redis" in ast.unparse(node).lower()


def _settings(source: str) -> str:
    tree = ast.parse(source)
    names = {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and _is_redis_setting(node)
    }
    if not names:
        raise TemplateError(
            "app/settings.py: no Redis setting found; update template/without_redis.py"
        )
    source = pysource.delete_statements(source, _is_redis_setting, where="app/settings.py")
    # validators of the removed fields go with them
    return pysource.delete_statements(
        source,
        lambda node: (
            isinstance(node, ast.FunctionDef)
            and any(pysource.uses(d, names) for d in node.decorator_list)
        ),
        where="app/settings.py validators",
        at_least=0,
    )


def _lifespan(source: str) -> str:
    where = "app/lifespan.py"
    # the Redis backend's import, its client and its closing live inside create_cache
    source = pysource.replace_definition(source, "create_cache", IN_PROCESS_CACHE, where=where)
    source, count = re.subn(
        r"^( +)cache = await create_cache\(.*\)$",
        r"\1cache = create_cache(settings)",
        source,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise TemplateError(f"{where}: the call of create_cache changed shape")
    return source


def _cache_tests(source: str, bound: set[str]) -> str:
    where = "tests/test_cache.py"
    source = pysource.replace_definition(source, "make_cache", IN_PROCESS_FIXTURE, where=where)
    # tests of the Redis backend alone
    return pysource.delete_statements(
        source,
        lambda node: (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and pysource.uses(node, bound)
        ),
        where=where,
        at_least=0,
    )


def remove_redis(project: Path) -> None:
    for path in sorted((project / "app").rglob("*.py")) + sorted((project / "tests").rglob("*.py")):
        original = source = path.read_text()
        for old, new in PROSE.items():
            source = source.replace(old, new)
        source, bound = pysource.delete_imports_of(source, REDIS_MODULES)
        relative = path.relative_to(project).as_posix()
        if relative == "app/settings.py":
            source = _settings(source)
        elif relative == "app/lifespan.py":
            source = _lifespan(source)
        elif relative == "tests/test_cache.py":
            source = _cache_tests(source, bound)
        elif bound:
            raise TemplateError(
                f"{relative} imports the Redis backend: teach template/without_redis.py its removal"
            )
        if source != original:
            path.write_text(pysource.prune_unused_imports(source))
