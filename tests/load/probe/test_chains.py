"""Back-reference chains from objgraph, written as code reaches the held object."""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Iterator

import objgraph
import pytest

from load.probe.chains import describe_chain


class Item:
    pass


class Holder:
    def __init__(self) -> None:
        self.kept: list[Item] = []


@pytest.fixture
def module() -> Iterator[types.ModuleType]:
    """A module of its own in sys.modules, so that objgraph sees a proper module root."""
    made = types.ModuleType("chains_demo")
    sys.modules[made.__name__] = made
    yield made
    del sys.modules[made.__name__]


def chain_to(target: object) -> str:
    return describe_chain(objgraph.find_backref_chain(target, objgraph.is_proper_module))


def test_a_module_level_dict_is_named_with_its_type(module: types.ModuleType) -> None:
    module._ITEMS = {7: Item()}  # type: ignore[attr-defined]
    assert chain_to(module._ITEMS[7]) == "chains_demo._ITEMS (dict) -> Item"


def test_an_attribute_path_reads_as_code(module: types.ModuleType) -> None:
    module.HOLDER = Holder()  # type: ignore[attr-defined]
    module.HOLDER.kept.append(Item())
    assert chain_to(module.HOLDER.kept[0]) == "chains_demo.HOLDER.kept (list) -> Item"


def test_a_set_member_cannot_be_named_so_the_set_is_shown(module: types.ModuleType) -> None:
    module._TASKS = {Item()}  # type: ignore[attr-defined]
    member = next(iter(module._TASKS))
    assert chain_to(member) == "chains_demo._TASKS (set) -> Item"


def test_a_global_that_holds_the_object_itself(module: types.ModuleType) -> None:
    module.ONE = Item()  # type: ignore[attr-defined]
    assert chain_to(module.ONE) == "chains_demo.ONE -> Item"


def test_a_closure_variable_is_named(module: types.ModuleType) -> None:
    def outer() -> types.FunctionType:
        kept = {"key": Item()}

        def inner() -> dict[str, Item]:
            return kept

        return inner  # type: ignore[return-value]

    module.handler = outer()  # type: ignore[attr-defined]
    held = module.handler()["key"]
    assert chain_to(held) == "chains_demo.handler.<closure kept> (dict) -> Item"


def test_an_lru_cache_shows_its_wrapper(module: types.ModuleType) -> None:
    @functools.cache
    def make(key: int) -> Item:
        return Item()

    module.make = make  # type: ignore[attr-defined]
    made = make(1)
    text = chain_to(made)
    assert text.startswith("chains_demo.make (_lru_cache_wrapper)"), text
    assert text.endswith("-> Item")


def test_an_empty_chain_is_empty() -> None:
    assert describe_chain([]) == ""
