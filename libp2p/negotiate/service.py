"""asyncio glue for multistream-select over anything that reads and writes bytes.

Used twice per connection by the upgrader (security, then muxer) and once per stream.
The caller bounds the whole negotiation with ``timeout``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import overload

from libp2p.driver import Deadlines
from libp2p.negotiate.core import MultistreamDialer, MultistreamListener
from libp2p.errors import DecodeError
from libp2p.negotiate.errors import DataAfterRefusalError, NegotiationError
from libp2p.negotiate.events import ProtocolAgreed, ProtocolRejected

__all__ = [
    "select_protocol", "finish_select", "accept_protocol", "accept_buffered", "ProtocolNotSupportedError",
    "NegotiationTimeoutError",
]

Read = Callable[[], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]
Unread = Callable[[bytes], None]


class ProtocolNotSupportedError(NegotiationError):
    """The remote refused every protocol we proposed."""


class NegotiationTimeoutError(NegotiationError, TimeoutError):
    """Negotiation did not finish in time."""


class _EOFError(NegotiationError, EOFError):
    pass


async def select_protocol(
    read: Read, write: Write, unread: Unread, protocols: Sequence[str], *, timeout: float | None
) -> str:
    """Propose ``protocols`` in order; return the one the remote accepted.

    ``timeout=None``: the caller bounds the negotiation with its own deadline (no timer here).
    """
    if timeout is None:
        return await _select(read, write, unread, protocols)
    try:
        async with asyncio.timeout(timeout):
            return await _select(read, write, unread, protocols)
    except TimeoutError:
        raise NegotiationTimeoutError(f"protocol negotiation timed out after {timeout} s") from None


async def _select(read: Read, write: Write, unread: Unread, protocols: Sequence[str]) -> str:
    dialer = MultistreamDialer(protocols, optimistic=False)
    await write(dialer.data_to_send())
    return await finish_select(read, write, unread, dialer)


async def finish_select(read: Read, write: Write, unread: Unread, dialer: MultistreamDialer) -> str:
    """The rest of ``select_protocol`` once ``dialer``'s first flight (``data_to_send()`` right
    after construction) was written by the caller: read the answers until a protocol is agreed.
    No deadline here: the caller bounds it."""
    protocols = dialer.protocols
    while True:
        data = await read()
        if not data:
            raise _EOFError("connection closed during protocol negotiation")
        dialer.receive_data(data)
        out = dialer.data_to_send()
        if out:
            await write(out)
        while (event := dialer.next_event()) is not None:
            if isinstance(event, ProtocolAgreed):
                unread(dialer.unused_data())
                return event.protocol
            if isinstance(event, ProtocolRejected):
                raise ProtocolNotSupportedError(f"remote supports none of {list(protocols)}")


async def accept_protocol(
    read: Read,
    write: Write,
    unread: Unread,
    supported: Callable[[str], bool] | Collection[str],
    *,
    timeout: float | None,
    listed: Collection[str] | Callable[[], Collection[str]] | None = None,
    ready: Callable[[], bool] | None = None,
) -> str:
    """Answer the remote's proposals; return the protocol agreed on.

    ``timeout=None``: the caller bounds the negotiation with its own deadline (no timer here).
    ``ready``, when given, says whether a ``read`` now returns at once and a ``write`` of an
    answer does not wait: the timeout is armed only before a step that may wait. A lazy dialer's
    proposal arrives with the stream's opening, so a stream's negotiation usually arms no timer.
    """
    # Hold the header back so it goes out together with the first answer (one write).
    listener = MultistreamListener(supported, listed=listed)
    if timeout is None:
        return await _accept(read, write, unread, listener)
    if ready is not None:
        # The steps that cannot wait run with no deadline (no timeout context either); from the
        # first one that may wait, the rest is bounded by ``timeout``.
        agreed = await _accept(read, write, unread, listener, ready)
        if agreed is not None:
            return agreed
    try:
        async with asyncio.timeout(timeout):
            return await _accept(read, write, unread, listener)
    except TimeoutError:
        raise NegotiationTimeoutError(f"protocol negotiation timed out after {timeout} s") from None


def accept_buffered(
    read_nowait: Callable[[int], bytes],
    write_nowait: Callable[[bytes], int],
    unread: Unread,
    supported: Callable[[str], bool] | Collection[str],
    *,
    listed: Collection[str] | Callable[[], Collection[str]] | None = None,
    limit: int = 1024,
) -> tuple[str, bytes] | None:
    """``accept_protocol`` without a coroutine, for the usual inbound stream: the dialer's
    first flight (header, a proposal we take, maybe data) is buffered already, so the protocol
    is agreed and the answer queued (``write_nowait``) at once. Returns the protocol and what of
    the answer the stream did not take (the caller writes it); None, with the bytes put back
    and nothing sent, when that flight does not settle it (the caller then runs
    ``accept_protocol``, which answers refusals and reports errors)."""
    data = read_nowait(limit)
    if not data:
        return None
    listener = MultistreamListener(supported, listed=listed)
    try:
        listener.receive_data(data)
    except NegotiationError:
        unread(data)
        return None
    protocol = listener.protocol
    if protocol is None:
        unread(data)
        return None
    unread(listener.unused_data())
    out = listener.data_to_send()
    return protocol, out[write_nowait(out):]


@overload
async def _accept(read: Read, write: Write, unread: Unread, listener: MultistreamListener) -> str: ...


@overload
async def _accept(
    read: Read, write: Write, unread: Unread, listener: MultistreamListener, ready: Callable[[], bool]
) -> str | None: ...


async def _accept(
    read: Read, write: Write, unread: Unread, listener: MultistreamListener, ready: Callable[[], bool] | None = None
) -> str | None:
    """The listener's steps until a protocol is agreed; with ``ready``, None before the first
    step that may wait (``ready()`` false: a read or the answer's write might)."""
    while True:
        if ready is not None and not ready():
            return None
        data = await read()
        if not data:
            raise _EOFError("connection closed during protocol negotiation")
        try:
            listener.receive_data(data)
        except DecodeError:
            if not listener.refused:
                raise
            # An optimistic dialer's data after a proposal we refused: send the refusal
            # first, so the dialer learns "not supported" rather than just a reset.
            out = listener.data_to_send()
            if out:
                await write(out)
            raise DataAfterRefusalError("data followed a refused proposal") from None
        del data  # what the protocol is sent goes back to the stream now, not after the answer
        agreed: str | None = None
        event = listener.next_event()
        while event is not None:
            if isinstance(event, ProtocolAgreed):
                # Before the answer's write, which may wait for the socket: the stream
                # accounts the bytes it gets back (its resource scope), this frame would not.
                unread(listener.unused_data())
                agreed = event.protocol
                break
            event = listener.next_event()
        out = listener.data_to_send()
        if out:
            await write(out)
        if agreed is not None:
            return agreed


# Bounds the wait for the answer to an optimistic proposal (go-libp2p bounds negotiation by 10 s).
ANSWER_TIMEOUT = 10.0

# The tasks waiting for an answer, by loop: one loop timer per 1/20 of ANSWER_TIMEOUT, not one per
# stream (each stream's answer is awaited once: a timer armed and cancelled per stream opened).
_answer_deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[float, Deadlines[asyncio.Task[object]]]] = (
    weakref.WeakKeyDictionary())
# Tasks cancelled because their answer did not come in time (told apart from other cancellations).
_overdue: set[asyncio.Task[object]] = set()


def _answer_overdue(task: asyncio.Task[object]) -> None:
    _overdue.add(task)
    task.cancel()


def _deadlines_of(loop: asyncio.AbstractEventLoop) -> Deadlines[asyncio.Task[object]]:
    kept = _answer_deadlines.get(loop)
    if kept is None or kept[0] != ANSWER_TIMEOUT:  # (tests shorten the timeout)
        kept = _answer_deadlines[loop] = (ANSWER_TIMEOUT, Deadlines(_answer_overdue, ANSWER_TIMEOUT / 20, loop))
    return kept[1]


class OptimisticNegotiation:
    """A stream's side of optimistic protocol selection (go-libp2p's lazy multistream client):
    the proposal went out unanswered, and the first read (or the close) takes the answer first.
    Mixed into the stream classes, which supply ``_read_data``, ``unread`` and ``reset``."""

    _pending_negotiation: MultistreamDialer | None = None
    _negotiated: asyncio.Future[None] | None = None  # set while someone reads the answer

    async def _read_data(self, n: int) -> bytes:
        raise NotImplementedError

    def unread(self, data: bytes) -> None:
        raise NotImplementedError

    async def reset(self) -> None:
        raise NotImplementedError

    def expect_negotiation(self, dialer: MultistreamDialer) -> None:
        """The first read consumes the listener's answer; a refusal surfaces there as
        ``ProtocolNotSupportedError`` (and the stream is reset)."""
        self._pending_negotiation = dialer

    async def _finish_negotiation(self, dialer: MultistreamDialer) -> None:
        self._pending_negotiation = None
        loop = asyncio.get_running_loop()
        done = self._negotiated = loop.create_future()
        try:
            task: asyncio.Task[object] | None = asyncio.current_task(loop)
            if task is None:  # (not in a task: nothing to cancel, the loop's own timeout then)
                try:
                    async with asyncio.timeout(ANSWER_TIMEOUT):
                        await self._read_answer(dialer)
                except TimeoutError:
                    raise NegotiationTimeoutError("no answer to the protocol proposal") from None
            else:
                # asyncio.timeout's contract (the task is cancelled at the deadline, and that
                # cancellation alone becomes the timeout error) with a shared coarse timer.
                deadlines = _deadlines_of(loop)
                cancelling = task.cancelling()
                slot = deadlines.add(task, loop.time() + ANSWER_TIMEOUT)
                try:
                    while not dialer.finished:  # ``_read_answer``, inline: once per stream opened
                        data = await self._read_data(-1)
                        if not data:
                            raise ProtocolNotSupportedError("the stream ended before the protocol was confirmed")
                        dialer.receive_data(data)
                except asyncio.CancelledError:
                    if task in _overdue:
                        _overdue.discard(task)
                        if task.uncancel() <= cancelling:
                            raise NegotiationTimeoutError("no answer to the protocol proposal") from None
                    raise
                finally:
                    if task in _overdue:  # overdue as the answer came: the cancellation is taken back
                        _overdue.discard(task)
                        task.uncancel()
                    elif len(slot) > 1:
                        slot.discard(task)  # (``leave``'s own work while others stay in the slot)
                    else:
                        deadlines.leave(task, slot)  # the last: the slot's timer goes (an idle host keeps none)
            if not isinstance(dialer.next_event(), ProtocolAgreed):
                raise ProtocolNotSupportedError(f"the remote refused {list(dialer.protocols)}")
        except BaseException as exc:
            done.set_exception(exc if isinstance(exc, Exception) else ProtocolNotSupportedError("negotiation cancelled"))
            done.exception()  # retrieved: whoever waits re-raises it
            await self.reset()
            raise
        finally:
            self._negotiated = None
        self.unread(dialer.unused_data())
        done.set_result(None)

    async def _read_answer(self, dialer: MultistreamDialer) -> None:
        while not dialer.finished:
            data = await self._read_data(-1)
            if not data:
                raise ProtocolNotSupportedError("the stream ended before the protocol was confirmed")
            dialer.receive_data(data)

    async def _negotiation_settled(self) -> None:
        """Wait until an optimistic proposal was answered (reading the answer if nobody else is)."""
        dialer = self._pending_negotiation
        if dialer is not None:
            await self._finish_negotiation(dialer)
        elif self._negotiated is not None:
            await asyncio.shield(self._negotiated)
