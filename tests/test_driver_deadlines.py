"""``libp2p.driver.Deadlines``: many deadlines, one loop timer per slot of time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from libp2p.driver import Deadlines
from libp2p.errors import InvalidArgumentError


class _Timer:
    def __init__(self, when: float, callback: Any, args: tuple[Any, ...]) -> None:
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class _Loop:
    """Records ``call_at``; the test fires the timers."""

    def __init__(self) -> None:
        self.timers: list[_Timer] = []

    def call_at(self, when: float, callback: Any, *args: Any) -> _Timer:
        timer = _Timer(when, callback, args)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[_Timer]:
        return [t for t in self.timers if not t.cancelled]

    def fire_until(self, now: float) -> None:
        for timer in sorted(self.armed(), key=lambda t: t.when):
            if timer.when <= now:
                timer.cancelled = True
                timer.callback(*timer.args)


def _deadlines(expired: list[str], granularity: float = 0.1) -> tuple[Deadlines[str], _Loop]:
    loop = _Loop()
    return Deadlines(expired.append, granularity, loop), loop  # type: ignore[arg-type]


def test_items_in_one_slot_share_one_timer_that_fires_at_the_slots_end() -> None:
    expired: list[str] = []
    deadlines, loop = _deadlines(expired)
    deadlines.add("a", 10.01)
    deadlines.add("b", 10.05)
    deadlines.add("c", 10.15)  # the next slot
    assert deadlines.timers == 2 and len(deadlines) == 3
    assert [t.when for t in loop.armed()] == pytest.approx([10.1, 10.2])
    loop.fire_until(10.1 + 1e-9)
    assert sorted(expired) == ["a", "b"]  # never before their deadline, in the slot that holds it
    loop.fire_until(10.2 + 1e-9)
    assert sorted(expired) == ["a", "b", "c"]
    assert deadlines.timers == 0 and len(deadlines) == 0


def test_an_item_that_leaves_does_not_expire_and_the_last_to_leave_cancels_the_timer() -> None:
    expired: list[str] = []
    deadlines, loop = _deadlines(expired)
    slot_a = deadlines.add("a", 5.03)
    slot_b = deadlines.add("b", 5.06)
    assert slot_a is slot_b
    deadlines.leave("a", slot_a)
    assert loop.armed() and deadlines.timers == 1
    deadlines.leave("b", slot_b)
    assert not loop.armed() and deadlines.timers == 0  # an idle owner keeps no timer
    loop.fire_until(100.0)
    assert expired == []


def test_an_item_discarded_from_its_slot_directly_does_not_expire() -> None:
    expired: list[str] = []
    deadlines, loop = _deadlines(expired)
    deadlines.add("a", 1.0).discard("a")  # the hot path's way: the slot's timer fires on nothing
    deadlines.add("b", 1.01)
    loop.fire_until(2.0)
    assert expired == ["b"]


def test_clear_cancels_every_timer_and_returns_the_waiting_items() -> None:
    expired: list[str] = []
    deadlines, loop = _deadlines(expired)
    for i, when in enumerate((1.0, 2.0, 3.0)):
        deadlines.add(f"x{i}", when)
    assert sorted(deadlines.clear()) == ["x0", "x1", "x2"]
    assert not loop.armed() and len(deadlines) == 0
    loop.fire_until(10.0)
    assert expired == []


def test_an_expiry_may_add_new_deadlines() -> None:
    expired: list[str] = []
    loop = _Loop()

    def expire(item: str) -> None:
        expired.append(item)
        if item == "first":
            deadlines.add("again", 2.0)

    deadlines: Deadlines[str] = Deadlines(expire, 0.5, loop)  # type: ignore[arg-type]
    deadlines.add("first", 1.0)
    loop.fire_until(1.5)
    assert expired == ["first"] and len(deadlines) == 1
    loop.fire_until(2.5)
    assert expired == ["first", "again"]


def test_a_granularity_that_is_not_positive_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        Deadlines(print, 0.0, _Loop())  # type: ignore[arg-type]


async def test_on_a_real_loop_an_item_expires_after_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    done = loop.create_future()

    def expire(item: str) -> None:
        fired.append(loop.time())
        done.set_result(item)

    deadlines: Deadlines[str] = Deadlines(expire, 0.01)
    deadline = loop.time() + 0.02
    deadlines.add("x", deadline)
    async with asyncio.timeout(10):
        assert await done == "x"
    assert fired[0] >= deadline
