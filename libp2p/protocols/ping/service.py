"""Ping as a service (answering) and a client API (``ping(peer, count)`` → round-trip times)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import TYPE_CHECKING

from libp2p.errors import Libp2pError, UnexpectedEOFError
from libp2p.host.service import Service
from libp2p.muxer.answer import answer_inline
from libp2p.protocols.ping.core import PingClient
from libp2p.protocols.ping.events import PongReceived
from libp2p.protocols.ping.wire import MAX_INBOUND_PING_STREAMS, PING_LENGTH, PING_TIMEOUT, PROTOCOL_ID

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.abc import Stream

__all__ = ["PingIdleTimeoutError", "PingService", "PingTimeoutError", "ping_round"]


async def ping_round(stream: Stream, client: PingClient, timeout: float | None) -> float:
    """One ping and its pong over ``stream`` (``TimeoutError`` after ``timeout`` s); the round-trip
    time in seconds, on ``perf_counter`` (uvloop's loop clock has millisecond steps)."""
    if timeout is None:
        return await _ping_round(stream, client)
    async with asyncio.timeout(timeout):
        return await _ping_round(stream, client)


async def _ping_round(stream: Stream, client: PingClient) -> float:
    client.send_ping(os.urandom(PING_LENGTH), time.perf_counter())
    await stream.write(client.data_to_send())
    while client.outstanding:
        data = await stream.read(PING_LENGTH)
        if not data:
            raise UnexpectedEOFError("the peer closed the ping stream")
        client.receive_data(data, time.perf_counter())
    event = client.next_event()
    assert isinstance(event, PongReceived)
    return event.rtt


class PingTimeoutError(Libp2pError, TimeoutError):
    """No pong came within the timeout (``PingService.ping``)."""


class PingIdleTimeoutError(Libp2pError, TimeoutError):
    """An inbound ping stream sent nothing for six ping timeouts (its handler gives it up)."""


class PingService(Service):
    """Answers ``/ipfs/ping/1.0.0`` and pings; a default service (``host.services["ping"]``)."""

    name = "ping"

    def __init__(self) -> None:
        super().__init__()
        self._inbound: Counter[PeerId] = Counter()

    @property
    def protocols(self) -> tuple[str, ...]:
        """``/ipfs/ping/1.0.0``."""
        return (PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(PROTOCOL_ID, self._handle, allow_limited=True)  # as go's ping

    async def _handle(self, stream: Stream) -> None:
        peer = stream.remote_peer_id
        if self._inbound[peer] >= MAX_INBOUND_PING_STREAMS:
            await stream.reset()
            return
        self._inbound[peer] += 1
        # One idle watchdog per stream, not a timeout per ping: arming and cancelling a loop
        # timer for every 32-byte round trip was a measurable part of the ping path.
        watchdog = _IdleWatchdog(PING_TIMEOUT * 6)
        # Pings are answered from the connection's read callback (no task wake-up per ping); this
        # task takes over for what cannot go at once, and at the end of the stream.
        partial = bytearray()

        def answer(data: bytes) -> bytes:
            watchdog.activity += 1  # no call, no clock read per ping
            if not partial and not len(data) % PING_LENGTH:
                return data  # whole pings: the usual case
            partial.extend(data)
            whole = len(partial) - len(partial) % PING_LENGTH
            out = bytes(partial[:whole])
            del partial[:whole]
            return out

        try:
            while True:
                head = b""
                try:
                    unsent = await answer_inline(stream, answer)
                    if unsent:
                        await stream.write(unsent)
                        continue
                    head = bytes(partial)
                    partial.clear()
                    payload = head + await stream.readexactly(PING_LENGTH - len(head))
                except asyncio.IncompleteReadError as exc:
                    if exc.partial or head:
                        await stream.reset()
                    return
                except asyncio.CancelledError:
                    if watchdog.expired():
                        raise PingIdleTimeoutError(f"ping stream idle for {PING_TIMEOUT * 6:.0f} s") from None
                    raise
                watchdog.activity += 1
                await stream.write(payload)
        finally:
            watchdog.cancel()
            self._inbound[peer] -= 1
            if not self._inbound[peer]:
                del self._inbound[peer]

    async def ping(self, peer_id: PeerId, count: int = 1, *, timeout: float = PING_TIMEOUT) -> list[float]:
        """Ping ``count`` times over one stream; returns each round-trip time in seconds."""
        stream = await self.host.new_stream(peer_id, [PROTOCOL_ID], allow_limited=True)
        # perf_counter, not loop.time(): uvloop's loop clock has millisecond steps.
        client = PingClient()
        rtts: list[float] = []
        try:
            # One loop timer for all the pings, not one armed and cancelled per ping: each ping
            # moves the deadline (an attribute); the timer re-arms when it fires before it.
            deadline = _RoundDeadline(timeout)
            try:
                for _ in range(count):
                    deadline.restart()
                    rtts.append(await _ping_round(stream, client))
            except asyncio.CancelledError:
                if deadline.expired():
                    raise PingTimeoutError(f"no pong within {timeout:g} s") from None
                raise
            finally:
                deadline.cancel()
        except BaseException:
            await stream.reset()
            raise
        await stream.close()
        return rtts


class _TaskTimer:
    """One loop timer that cancels the current task when it decides time is up (``_expire``);
    ``expired()`` tells that cancellation from any other (and takes it back from the task's
    count, as ``asyncio.timeout`` does)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._expired = False
        self._handle: asyncio.TimerHandle | None = None

    def expired(self) -> bool:
        if self._expired and self._task is not None:
            self._task.uncancel()
        return self._expired

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        self._expired = True
        if self._task is not None:
            self._task.cancel()


class _IdleWatchdog(_TaskTimer):
    """Cancels the current task when ``activity`` did not change for a whole ``idle`` period (so
    between ``idle`` and twice that after the last activity).

    The owner bumps ``activity`` (an attribute, no call and no clock read per message); the
    timer looks at it only when it fires, and re-arms while it changes.
    """

    def __init__(self, idle: float) -> None:
        super().__init__()
        self._idle = idle
        self.activity = 0
        self._seen = 0
        self._handle = self._loop.call_later(idle, self._check)

    def _check(self) -> None:
        if self.activity != self._seen:
            self._seen = self.activity
            self._handle = self._loop.call_later(self._idle, self._check)
            return
        self._expire()


class _RoundDeadline(_TaskTimer):
    """``asyncio.timeout(timeout)`` for each of a series of rounds, with one loop timer: ``restart``
    moves the deadline (a clock read, no timer call); the timer, firing before the deadline,
    re-arms at it. When it passes, the current task is cancelled."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self._at = self._loop.time() + timeout
        self._handle = self._loop.call_at(self._at, self._check)

    def restart(self) -> None:
        self._at = self._loop.time() + self._timeout

    def _check(self) -> None:
        if self._loop.time() < self._at:
            self._handle = self._loop.call_at(self._at, self._check)
            return
        self._expire()
