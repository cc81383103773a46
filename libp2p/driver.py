"""The small asyncio driver every sans-IO core shares: its timer, its tasks, its read loop.

A core (``core.py``) takes bytes and time in and names its next deadline with ``get_timer()``;
the adapter beside it arms one loop timer for that deadline (``CoreTimer``), keeps the tasks
it starts in a set that ends with it (``TaskSet``), and feeds a stream's bytes to a reader
until the reader has what it waits for (``read_into``). The muxers, identify and the DHT use
these instead of copies of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from libp2p.abc import Stream

__all__ = ["CoreTimer", "TaskSet", "read_into", "FeedableReader"]

log = logging.getLogger("libp2p.driver")

T = TypeVar("T")


def _nothing() -> None:
    pass


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
        self._handle = None
        self._at = None
        self._callback()


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

