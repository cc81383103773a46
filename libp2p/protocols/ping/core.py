"""The ping client as a sans-IO core: one outstanding ping at a time on one stream."""

from __future__ import annotations

from collections import deque

from libp2p.errors import InvalidArgumentError, StateError
from libp2p.protocols.ping.events import PingEvent, PongReceived
from libp2p.protocols.ping.wire import PING_LENGTH, PingMismatchError

__all__ = ["PingClient"]


class PingClient:
    """Call ``send_ping(payload, now)``, send ``data_to_send()``, feed the replies to ``receive_data``."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._expected: bytes | None = None
        self._sent_at = 0.0
        self._buf = bytearray()
        self._events: deque[PingEvent] = deque()

    @property
    def outstanding(self) -> bool:
        return self._expected is not None

    def send_ping(self, payload: bytes, now: float) -> None:
        if len(payload) != PING_LENGTH:
            raise InvalidArgumentError(f"a ping payload is {PING_LENGTH} bytes")
        if self._expected is not None:
            raise StateError("a ping is already outstanding")
        self._expected = payload
        self._sent_at = now
        self._out += payload

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        if self._expected is None:
            raise PingMismatchError("pong bytes without an outstanding ping")
        self._buf += data
        if len(self._buf) > PING_LENGTH:
            raise PingMismatchError("more pong bytes than the ping had")
        if len(self._buf) < PING_LENGTH:
            return
        if bytes(self._buf) != self._expected:
            raise PingMismatchError("the pong does not match the ping")
        self._buf.clear()
        self._expected = None
        self._events.append(PongReceived(now - self._sent_at))

    def next_event(self) -> PingEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out
