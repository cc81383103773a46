"""DCUtR as sans-IO cores: messages and time in, bytes and ``DialNow`` out.

The initiator is the peer with the inbound relayed connection (the spec's B): it sends CONNECT
with its addresses and starts a timer; on the answer's CONNECT it has the round trip, sends
SYNC and dials the other side's addresses RTT/2 later. The responder (the spec's A) answers
CONNECT with its addresses and dials as soon as SYNC arrives, so both SYNs cross the NATs at
about the same time (TCP simultaneous open).
"""

from __future__ import annotations

import ipaddress
from collections import deque

from libp2p.multiaddr import P_IP4, P_IP6, P_TCP, Multiaddr
from libp2p.protocols.dcutr.events import DcutrEvent, DialNow
from libp2p.protocols.dcutr.wire import MAX_ADDRS, DcutrDecodeError, HolePunch, HolePunchType, encode_holepunch, frame

__all__ = ["HolePunchInitiator", "HolePunchResponder", "punchable", "punchable_addrs"]


def punchable(addr: Multiaddr) -> bool:
    """An address a hole punch can use: IP and TCP, no relay, not loopback/unspecified/link-local/
    multicast (a private one is kept: both peers may sit behind one NAT)."""
    comps = addr.components()
    if len(comps) < 2 or comps[0].protocol.code not in (P_IP4, P_IP6) or comps[1].protocol.code != P_TCP:
        return False
    if addr.has_protocol("p2p-circuit") or comps[0].value is None:
        return False
    ip = ipaddress.ip_address(comps[0].value)
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast)


def punchable_addrs(addrs: list[Multiaddr] | tuple[Multiaddr, ...]) -> tuple[Multiaddr, ...]:
    """The punchable addresses (transport part only, without ``/p2p/…``), deduplicated, bounded."""
    out: dict[Multiaddr, None] = {}
    for addr in addrs:
        if punchable(addr):
            comps = addr.split()
            out[Multiaddr.from_bytes(bytes(comps[0]) + bytes(comps[1]))] = None
    return tuple(out)[:MAX_ADDRS]


class _Core:
    def __init__(self, our_addrs: tuple[Multiaddr, ...]) -> None:
        self.our_addrs = our_addrs
        self._out = bytearray()
        self._events: deque[DcutrEvent] = deque()
        self.done = False

    def _send(self, msg: HolePunch) -> None:
        self._out += frame(encode_holepunch(msg))

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> DcutrEvent | None:
        return self._events.popleft() if self._events else None


class HolePunchInitiator(_Core):
    """The spec's B (inbound relayed connection). ``start(now)``, then ``receive_message``;
    ``get_timer``/``handle_timer`` give ``DialNow`` RTT/2 after the SYNC went out."""

    def __init__(self, our_addrs: tuple[Multiaddr, ...]) -> None:
        super().__init__(our_addrs)
        self._sent_at: float | None = None
        self._dial_at: float | None = None
        self._remote: tuple[Multiaddr, ...] = ()
        self.rtt: float | None = None

    def start(self, now: float) -> None:
        self._send(HolePunch(HolePunchType.CONNECT, self.our_addrs))
        self._sent_at = now

    def receive_message(self, msg: HolePunch, now: float) -> None:
        if self._sent_at is None or self._dial_at is not None or msg.type != HolePunchType.CONNECT:
            raise DcutrDecodeError(f"unexpected {msg.type.name} from the responder")
        self.rtt = max(now - self._sent_at, 0.0)
        self._remote = punchable_addrs(msg.addrs)
        if not self._remote:
            raise DcutrDecodeError("the responder sent no address to punch to")
        self._send(HolePunch(HolePunchType.SYNC))
        self._dial_at = now + self.rtt / 2

    def get_timer(self) -> float | None:
        return None if self.done else self._dial_at

    def handle_timer(self, now: float) -> None:
        if self._dial_at is not None and now >= self._dial_at and not self.done:
            self.done = True
            self._events.append(DialNow(self._remote, self.rtt))


class HolePunchResponder(_Core):
    """The spec's A (it dialed through the relay): answers CONNECT, dials on SYNC."""

    def __init__(self, our_addrs: tuple[Multiaddr, ...]) -> None:
        super().__init__(our_addrs)
        self._remote: tuple[Multiaddr, ...] | None = None

    def receive_message(self, msg: HolePunch, now: float) -> None:
        if self.done:
            raise DcutrDecodeError("message after SYNC")
        if self._remote is None:
            if msg.type != HolePunchType.CONNECT:
                raise DcutrDecodeError(f"expected CONNECT, got {msg.type.name}")
            self._remote = punchable_addrs(msg.addrs)
            self._send(HolePunch(HolePunchType.CONNECT, self.our_addrs))
            return
        if msg.type != HolePunchType.SYNC:
            raise DcutrDecodeError(f"expected SYNC, got {msg.type.name}")
        self.done = True
        if self._remote:
            self._events.append(DialNow(self._remote))
