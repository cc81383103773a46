"""``FreezingCollector``: survivors of a full collection are frozen, so the next full collection
walks only what became old since; cycles among frozen objects are freed once the frozen set has
grown by ``growth`` (or by ``collect_all``)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from libp2p import long_lived_gc
from libp2p.errors import InvalidArgumentError
from libp2p.long_lived_gc import FreezingCollector

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's incremental collector: install is a no-op")


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _frozen_cycle() -> weakref.ref[_Node]:
    """A reference cycle that is reachable during a full collection (so it is frozen), then not."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gc.collect()
    return weakref.ref(a)


@pytest.fixture
def collector() -> Iterator[FreezingCollector]:
    gc.collect()
    c = FreezingCollector(growth=1.0)
    c.install()
    gc.collect()  # the first full collection after install walks everything: the baseline
    assert (c.complete_collections, c.partial_collections) == (1, 0)
    try:
        yield c
    finally:
        c.uninstall()
        gc.collect()


def _in_generation_2(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(generation=2))


def test_survivors_of_a_full_collection_are_frozen_and_not_walked_again(collector: FreezingCollector) -> None:
    before = gc.get_freeze_count()
    held = [[i] for i in range(20_000)]
    gc.collect()
    assert gc.get_freeze_count() >= before + 20_000
    assert not _in_generation_2(held)
    assert collector.partial_collections >= 1
    assert collector.complete_collections == 1


def test_objects_frozen_are_still_freed_by_reference_counting(collector: FreezingCollector) -> None:
    held = [[i] for i in range(20_000)]
    gc.collect()
    frozen = gc.get_freeze_count()
    del held
    assert gc.get_freeze_count() <= frozen - 20_000


def test_a_cycle_among_frozen_objects_waits_for_the_frozen_set_to_grow(collector: FreezingCollector) -> None:
    ref = _frozen_cycle()
    gc.collect()
    assert ref() is not None  # unreachable now, but frozen: a partial collection does not walk it
    frozen = gc.get_freeze_count()
    held = [[i] for i in range(int(collector._threshold()) - frozen + 1000)]
    gc.collect()  # partial; the frozen set has grown past the threshold: unfrozen for the next one
    gc.collect()  # complete
    assert ref() is None
    assert collector.complete_collections == 2
    assert not _in_generation_2(held)  # frozen again after the complete collection


def test_collect_all_frees_cycles_among_frozen_objects(collector: FreezingCollector) -> None:
    ref = _frozen_cycle()
    gc.collect()
    assert ref() is not None
    assert collector.collect_all() >= 2
    assert ref() is None
    assert collector.complete_collections == 2


def test_uninstall_unhooks_and_unfreezes() -> None:
    c = FreezingCollector()
    c.install()
    c.install()  # idempotent
    assert gc.callbacks.count(c._on_gc) == 1
    gc.collect()  # complete: the baseline
    ref = _frozen_cycle()
    assert ref() is not None
    c.uninstall()
    assert c._on_gc not in gc.callbacks and not c.active
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None


def test_growth_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError):
        FreezingCollector(growth=0)


def test_complete_collections_back_off_while_they_find_nothing(collector: FreezingCollector) -> None:
    collector.collect_all()  # the fixture's complete collection just ran: little left to find
    before = collector._next_growth
    collector.collect_all()
    assert collector._next_growth == 2 * before
    # cycles that became old, then unreachable: the next complete collection finds them
    nodes = [_Node() for _ in range(2 * max(5_000, gc.get_freeze_count() // long_lived_gc._WORTHWHILE))]
    for a, b in zip(nodes[::2], nodes[1::2]):
        a.other, b.other = b, a
    gc.collect()
    del nodes, a, b
    assert collector.collect_all() >= 10_000
    assert collector._next_growth == collector.growth
