"""``libp2p.driver.CoreTimer``: one loop timer following a core's deadline on the core's clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from libp2p.driver import CoreTimer


class _Handle:
    def __init__(self, delay: float, callback: Any) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class _Loop:
    """Records ``call_later``; the test fires the timers at times of its choosing."""

    def __init__(self) -> None:
        self.handles: list[_Handle] = []

    def call_later(self, delay: float, callback: Any) -> _Handle:
        handle = _Handle(delay, callback)
        self.handles.append(handle)
        return handle

    def armed(self) -> list[_Handle]:
        return [h for h in self.handles if not h.cancelled]

    def fire(self) -> None:
        (handle,) = self.armed()
        handle.cancelled = True
        handle.callback()


def test_a_loop_timer_firing_before_the_deadline_on_the_owners_clock_waits_the_rest() -> None:
    now = [9.0]
    calls: list[float] = []
    loop = _Loop()
    timer = CoreTimer(lambda: calls.append(now[0]), lambda: now[0], loop)  # type: ignore[arg-type]
    timer.arm(10.0)
    assert [h.delay for h in loop.armed()] == [pytest.approx(1.0)]
    now[0] = 9.9996  # the loop's coarser clock says the second is up; the owner's does not
    loop.fire()
    assert calls == []  # not called back with nothing due
    (rest,) = loop.armed()
    assert rest.delay >= 0.0004 + 0.001 - 1e-9  # the rest and one tick: the next firing is past it
    timer.arm(10.0)  # the owner re-arming for the same deadline leaves the pending wait alone
    assert loop.armed() == [rest]
    now[0] = 10.0015
    loop.fire()
    assert calls == [10.0015]
    assert loop.armed() == []


def test_cancel_after_an_early_firing_cancels_the_wait_for_the_rest() -> None:
    now = [0.0]
    calls: list[float] = []
    loop = _Loop()
    timer = CoreTimer(lambda: calls.append(now[0]), lambda: now[0], loop)  # type: ignore[arg-type]
    timer.arm(1.0)
    now[0] = 0.9999
    loop.fire()
    timer.cancel()
    assert loop.armed() == [] and calls == []


def _firings_per_deadline(loop: asyncio.AbstractEventLoop, deadlines: int) -> tuple[float, int]:
    """Arms one CoreTimer per deadline on time.perf_counter (the muxers' clock); returns the loop
    timer firings per deadline and how many callbacks came before their deadline."""
    fired = [0]
    early = [0]
    original = CoreTimer._fire

    def counting_fire(self: CoreTimer) -> None:
        fired[0] += 1
        original(self)

    async def main() -> None:
        done = asyncio.Event()
        left = [deadlines]
        base = time.perf_counter() + 0.02

        def make(at: float) -> CoreTimer:
            def callback() -> None:
                if time.perf_counter() < at:
                    early[0] += 1
                left[0] -= 1
                if not left[0]:
                    done.set()

            return CoreTimer(callback, time.perf_counter, loop)

        timers = [make(base + i * 0.0007) for i in range(deadlines)]
        for i, t in enumerate(timers):
            t.arm(base + i * 0.0007)
        await asyncio.wait_for(done.wait(), 30)

    CoreTimer._fire = counting_fire  # type: ignore[method-assign]
    try:
        loop.run_until_complete(main())
    finally:
        CoreTimer._fire = original  # type: ignore[method-assign]
    return fired[0] / deadlines, early[0]


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_deadline_on_perf_counter_costs_about_one_loop_timer_firing(kind: str) -> None:
    # uvloop's timers count whole milliseconds from a cached time: before the fix each deadline
    # of a muxer (keep-alive) fired ~36 times, polling the loop each time, until the clock got there.
    if kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        per_deadline, early = _firings_per_deadline(loop, 100)
    finally:
        loop.close()
    assert early == 0
    assert per_deadline < 4

