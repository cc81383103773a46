"""The circuit transport: connections through a relay, as raw pipes for the upgrader.

Its addresses are ``<relay addr>/p2p/<relay>/p2p-circuit`` (``/p2p/<target>`` is stripped by
the swarm and passed as ``peer_id``); listening is on ``/p2p-circuit``, and the listener's
addresses are the relayed addresses of our reservations. The relay protocol itself (circuit
relay v2's HOP and STOP) lives in ``libp2p.protocols.relay``, whose client service gives this
transport its dialer and hands it the circuits that arrive (``accept``): a transport never
speaks a protocol, as go's circuit transport delegates to its relay client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from libp2p.errors import LocalProtocolError
from libp2p.multiaddr import Multiaddr

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.transport.connection import RawConnection

__all__ = ["CircuitTransport", "CircuitListener", "CircuitDialer", "P2P_CIRCUIT", "is_circuit_addr", "split_circuit_addr"]

log = logging.getLogger("libp2p.transport.circuit")

P2P_CIRCUIT = "p2p-circuit"

#: ``(relay address ending in /p2p/<relay>, target, timeout) -> raw connection through the relay``
CircuitDialer = Callable[["Multiaddr", "PeerId", "float | None"], Awaitable["RawConnection"]]


def is_circuit_addr(addr: Multiaddr) -> bool:
    return addr.has_protocol(P2P_CIRCUIT)


def split_circuit_addr(addr: Multiaddr) -> tuple[Multiaddr, PeerId | None]:
    """``<relay addr>/p2p/R/p2p-circuit[/p2p/T]`` → (``<relay addr>/p2p/R``, T or None).

    Raises ``LocalProtocolError`` for an address that is not one relay hop to one peer."""
    parts = addr.split()
    hops = [i for i, part in enumerate(parts) if part.protocols()[0].name == P2P_CIRCUIT]
    if len(hops) != 1:
        raise LocalProtocolError(f"not a single-hop circuit address: {addr}")
    head, tail = parts[: hops[0]], parts[hops[0] + 1 :]
    relay_addr = Multiaddr.from_bytes(b"".join(bytes(p) for p in head))
    if not head or relay_addr.peer_id is None:
        raise LocalProtocolError(f"a circuit address names its relay with /p2p/<relay>: {addr}")
    target = None
    if tail:
        if len(tail) != 1 or tail[0].peer_id is None:
            raise LocalProtocolError(f"a circuit address ends in /p2p/<target>: {addr}")
        target = tail[0].peer_id
    return relay_addr, target


class CircuitListener:
    """Listening on ``/p2p-circuit``: ``addrs`` are our relayed addresses (one per reservation
    address), kept up to date by the relay client."""

    def __init__(self, transport: CircuitTransport) -> None:
        self._transport = transport
        self.addrs: list[Multiaddr] = []

    async def close(self) -> None:
        if self._transport.listener is self:
            self._transport.listener = None
            self._transport.handler = None


class CircuitTransport:
    upgraded = False

    def __init__(self, dialer: CircuitDialer | None = None) -> None:
        self.dialer = dialer
        self.listener: CircuitListener | None = None
        self.handler: Callable[[RawConnection], None] | None = None

    def can_dial(self, addr: Multiaddr) -> bool:
        if not is_circuit_addr(addr):
            return False
        try:
            split_circuit_addr(addr)
        except (LocalProtocolError, ValueError):
            return False
        return True

    def can_listen(self, addr: Multiaddr) -> bool:
        return str(addr) == f"/{P2P_CIRCUIT}"

    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> RawConnection:
        if self.dialer is None:
            raise LocalProtocolError("the circuit transport has no relay client")
        relay_addr, target = split_circuit_addr(addr)
        target = target or peer_id
        if target is None:
            raise LocalProtocolError(f"whom to reach through the relay? {addr} names no target")
        if peer_id is not None and target != peer_id:
            raise LocalProtocolError(f"{addr} names {target}, not {peer_id}")
        return await self.dialer(relay_addr, target, timeout)

    async def listen(self, addr: Multiaddr, handler: Callable[[RawConnection], None]) -> CircuitListener:
        if not self.can_listen(addr):
            raise LocalProtocolError(f"the circuit transport listens on /{P2P_CIRCUIT} only, not {addr}")
        if self.listener is not None:
            raise LocalProtocolError(f"already listening on /{P2P_CIRCUIT}")
        self.listener = CircuitListener(self)
        self.handler = handler
        return self.listener

    @property
    def listening(self) -> bool:
        return self.handler is not None

    def accept(self, raw: RawConnection) -> bool:
        """A circuit arrived (the relay client answered STOP): hand it to the host, or refuse it
        (False) when we do not listen."""
        if self.handler is None:
            raw.abort()
            return False
        self.handler(raw)
        return True

    def set_addrs(self, addrs: Sequence[Multiaddr]) -> bool:
        """Our relayed addresses changed; True when they did (and we listen)."""
        if self.listener is None or list(addrs) == self.listener.addrs:
            return False
        self.listener.addrs = list(addrs)
        return True
