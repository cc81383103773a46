"""The small asyncio driver every sans-IO core shares: its timer, its tasks, its read loop.

A core (``core.py``) takes bytes and time in and names its next deadline with ``get_timer()``;
the adapter beside it arms one loop timer for that deadline (``CoreTimer``), keeps the tasks
it starts in a set that ends with it (``TaskSet``), and feeds a stream's bytes to a reader
until the reader has what it waits for (``read_into``). Many short deadlines of one kind (one per
connection being upgraded or identified) share a timer per slot of time (``Deadlines``). The
muxers, identify, the listener's upgrades and the DHT use these instead of copies of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from libp2p.abc import Stream

__all__ = ["CoreTimer", "Deadlines", "DeadlineSlot", "TaskSet", "read_into", "FeedableReader"]

log = logging.getLogger("libp2p.driver")

T = TypeVar("T")


def _nothing() -> None:
    pass


# Added to the wait after a timer fired before its deadline (one tick of uvloop's clock), so the
# next firing is past it.
_EARLY_SLACK = 0.001


class CoreTimer:
    """One loop timer that follows a core's deadline.

    ``arm(when)`` with the core's ``get_timer()`` after each call into it: the same deadline is
    left alone, a new one replaces the old, None cancels. Deadlines are on ``clock`` (the clock
    the core is fed), which need not be the loop's.
    """

    __slots__ = ("_callback", "_clock", "_handle", "_at", "_loop")

    def __init__(
        self,
        callback: Callable[[], None],
        clock: Callable[[], float] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # ``loop``: the owner's, when it has it (CPython 3.11's get_running_loop() costs a getpid())
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._callback = callback
        self._clock = clock or self._loop.time
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def arm(self, when: float | None) -> None:
        if when == self._at:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = when
        if when is not None:
            delay = when - self._clock()
            self._handle = self._loop.call_later(delay if delay > 0.0 else 0.0, self._fire)

    def cancel(self) -> None:
        self.arm(None)

    def close(self) -> None:
        """Cancel for good, and drop the callback (often a bound method of the timer's owner,
        which holds the timer: a reference cycle)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = None
        self._callback = _nothing

    def _fire(self) -> None:
        at = self._at
        if at is not None:
            rest = at - self._clock()
            if rest > 0.0:
                # Early on the owner's clock: uvloop's timers count whole milliseconds from a
                # time cached at the start of the loop pass. Calling back now would find nothing
                # due and re-arm for the same deadline, again and again until the clock reached
                # it (~36 loop passes per deadline, each a poll: the idle listener of 10 000
                # connections spent half its CPU so). Wait the rest, at least one tick.
                self._handle = self._loop.call_later(rest + _EARLY_SLACK, self._fire)
                return
        self._handle = None
        self._at = None
        self._callback()


class DeadlineSlot(set[T]):
    """The items whose deadlines fall in one slot of time, and the slot's timer."""

    __slots__ = ("handle", "key")

    def __init__(self, key: int) -> None:
        super().__init__()
        self.key = key
        self.handle: asyncio.TimerHandle | None = None


class Deadlines(Generic[T]):
    """Deadlines of many items with one loop timer per slot of ``granularity`` seconds rather than
    one per item (a loop timer costs ~5 us to arm and cancel, a set entry ~0.1 us).

    ``add`` puts an item in the slot of its deadline and returns the slot; when the item no longer
    has that deadline, ``leave`` takes it out (a hot path may ``discard`` it from the slot itself
    and skip ``leave`` while the slot still holds others). At the end of a slot ``expire(item)``
    runs for each item still in it, at most ``granularity`` late. A slot's timer is cancelled
    when the slot empties through ``leave``, so an idle owner keeps no timer.
    """

    __slots__ = ("_expire", "_granularity", "_loop", "_slots")

    def __init__(self, expire: Callable[[T], object], granularity: float,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if granularity <= 0:
            from libp2p.errors import InvalidArgumentError

            raise InvalidArgumentError("granularity must be positive")
        self._expire = expire
        self._granularity = granularity
        self._loop = loop or asyncio.get_running_loop()
        self._slots: dict[int, DeadlineSlot[T]] = {}

    def add(self, item: T, deadline: float) -> DeadlineSlot[T]:
        """Put ``item`` in the slot of ``deadline`` (loop time); returns the slot."""
        key = int(deadline // self._granularity) + 1
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = DeadlineSlot(key)
            slot.handle = self._loop.call_at(key * self._granularity, self._fire, key)
        slot.add(item)
        return slot

    def leave(self, item: T, slot: DeadlineSlot[T]) -> None:
        """``item`` no longer has the deadline of ``slot``; the slot's timer goes when it is empty."""
        slot.discard(item)
        if not slot and self._slots.get(slot.key) is slot:
            del self._slots[slot.key]
            if slot.handle is not None:
                slot.handle.cancel()
                slot.handle = None

    def _fire(self, key: int) -> None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        slot.handle = None
        expire = self._expire
        while slot:
            expire(slot.pop())

    def clear(self) -> list[T]:
        """Cancel every timer; returns the items that were waiting (nothing expires for them)."""
        items = [item for slot in self._slots.values() for item in slot]
        for slot in self._slots.values():
            if slot.handle is not None:
                slot.handle.cancel()
                slot.handle = None
            slot.clear()
        self._slots.clear()
        return items

    @property
    def timers(self) -> int:
        """Loop timers armed (one per slot that holds or held items)."""
        return len(self._slots)

    def __len__(self) -> int:
        """Items waiting for their deadline."""
        return sum(map(len, self._slots.values()))


class TaskSet:
    """Tasks that end together: ``spawn`` keeps a reference (so none is collected mid-run) and
    logs how each failed; ``cancel`` ends them all and waits for them."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Awaitable[T], name: str) -> asyncio.Task[T]:
        task: asyncio.Task[T]
        loop = asyncio._get_running_loop()
        if loop is not None and type(coro) is CoroutineType:
            # what is spawned, nearly always: the loop's create_task, without ensure_future's frames
            task = loop.create_task(coro)
        else:
            task = asyncio.ensure_future(coro)
        task.set_name(name)
        if self._closed:
            task.cancel()
            return task
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("%s task %s failed: %r", self.name, task.get_name(), task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel(self) -> None:
        """Cancel every task (and any spawned from now on) and wait until they have ended."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class FeedableReader(Protocol):
    def receive_data(self, data: bytes) -> None: ...

    def receive_eof(self) -> None: ...


async def read_into(
    stream: Stream, reader: FeedableReader, done: Callable[[], bool] | None = None, chunk: int = 64 * 1024
) -> bool:
    """Feed ``stream`` to ``reader`` until ``done()`` (True) or the end of the stream (``reader``
    gets ``receive_eof``; False). Without ``done``, reads to the end."""
    while done is None or not done():
        data = await stream.read(chunk)
        if not data:
            reader.receive_eof()
            return False
        reader.receive_data(data)
    return True

