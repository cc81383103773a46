"""An in-memory transport for unit tests and simulations (``/memory/<name>``).

Each side's ``RawConnection`` is driven through a small fake ``asyncio.Transport``, so the
same protocol object and upgrade path run as over TCP. Delivery is by ``call_soon``, with
pause/resume both ways, so backpressure works as on a socket.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from libp2p.errors import LocalProtocolError
from libp2p.multiaddr import P_MEMORY, Multiaddr
from libp2p.transport.connection import RawConnection

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
from libp2p.transport.tcp import DialError

__all__ = ["MemoryNetwork", "MemoryTransport"]

ConnectionHandler = Callable[[RawConnection], None]

_HIGH_WATER = 1 << 20


class _Pipe(asyncio.Transport):
    """One direction's writer: what is written here is delivered to ``peer_protocol``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: RawConnection) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol  # our own side (for pause/resume_writing)
        self.peer: _Pipe | None = None
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._scheduled = False
        self._reading_paused = False  # our protocol asked to stop receiving
        self._closing = False
        self._eof_pending = False
        self._write_paused = False
        self._lost = False

    # --- writer side -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self.peer is None:
            return
        if data:
            self._queue.append(bytes(data))
            self._queued += len(data)
        self._schedule()
        if self._queued > _HIGH_WATER and not self._write_paused:
            self._write_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: object) -> None:
        for data in list_of_data:  # type: ignore[attr-defined]
            self.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._eof_pending = True
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False
        peer = self.peer
        if peer is None or peer._lost:
            return
        proto = peer._protocol
        while self._queue and not peer._reading_paused:
            chunk = self._queue.popleft()
            self._queued -= len(chunk)
            proto.feed(chunk)
        if self._write_paused and self._queued <= _HIGH_WATER // 4:
            self._write_paused = False
            self._protocol.resume_writing()
        if not self._queue and self._eof_pending:
            self._eof_pending = False
            proto.eof_received()
        if not self._queue and self._closing:
            peer._connection_lost(None)
            self._connection_lost(None)

    # --- reader side -------------------------------------------------------------------------

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.peer is not None:
                self.peer._schedule()

    def is_reading(self) -> bool:
        return not self._reading_paused

    # --- lifetime ------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._schedule()

    def abort(self) -> None:
        self._closing = True
        self._queue.clear()
        self._queued = 0
        if self.peer is not None:
            self.peer._connection_lost(ConnectionResetError("connection aborted"))
        self._connection_lost(None)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._loop.call_soon(self._protocol.connection_lost, exc)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self._queued


class MemoryNetwork:
    """A namespace of ``/memory/<name>`` listeners; transports on one network reach each other."""

    def __init__(self) -> None:
        self._listeners: dict[str, ConnectionHandler] = {}
        self._names = itertools.count(1)

    def _new_name(self) -> str:
        while True:
            name = str(next(self._names))
            if name not in self._listeners:
                return name


class MemoryListener:
    def __init__(self, network: MemoryNetwork, name: str) -> None:
        self._network = network
        self._name = name
        self.addrs = [Multiaddr(f"/memory/{name}")]

    async def close(self) -> None:
        self._network._listeners.pop(self._name, None)


class MemoryTransport:
    upgraded = False  # raw pipes, for the upgrader

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network
        self._dialer_names = itertools.count(1)

    def can_dial(self, addr: Multiaddr) -> bool:
        codes = [c.protocol.code for c in addr.components()]
        return bool(codes) and codes[0] == P_MEMORY and len(codes) <= 2

    def can_listen(self, addr: Multiaddr) -> bool:
        codes = [c.protocol.code for c in addr.components()]
        return codes == [P_MEMORY]

    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> RawConnection:
        name = addr.value_for_protocol("memory")
        handler = self.network._listeners.get(name)
        if handler is None:
            raise DialError(f"nothing listens on {addr}")
        loop = asyncio.get_running_loop()
        client = RawConnection(is_initiator=True)
        server = RawConnection(is_initiator=False)
        a, b = _Pipe(loop, client), _Pipe(loop, server)
        a.peer, b.peer = b, a
        client.connection_made(a)
        server.connection_made(b)
        client.local_addr = Multiaddr(f"/memory/dialer-{next(self._dialer_names)}")
        client.remote_addr = Multiaddr(f"/memory/{name}")
        server.local_addr, server.remote_addr = client.remote_addr, client.local_addr
        handler(server)
        return client

    async def listen(self, addr: Multiaddr, handler: ConnectionHandler) -> MemoryListener:
        name = addr.value_for_protocol("memory")
        if name == "0":
            name = self.network._new_name()
        if name in self.network._listeners:
            raise LocalProtocolError(f"/memory/{name} is already in use")
        self.network._listeners[name] = handler
        return MemoryListener(self.network, name)
