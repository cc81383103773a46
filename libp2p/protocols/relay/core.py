"""Circuit relay v2 as sans-IO pieces: bytes and (unix) time in, decisions and bytes out.

- ``MessageReader``: one length-prefixed HOP/STOP message, bounded, and the bytes after it
  (after a STATUS OK the stream carries the relayed connection: nothing may be read ahead).
- ``HopState``: the relay's reservations and circuits, and its limits (go-libp2p's
  ``relay.Resources`` defaults): one reservation per peer (a new RESERVE refreshes it), at most
  ``max_reservations`` in all and ``max_reservations_per_ip`` from one IP, ``max_circuits_per_peer``
  circuits touching one peer and ``max_circuits`` in all.
- ``DataBudget``: a circuit direction's data limit.
- ``hop_response`` / ``stop_response`` / ``accept_reservation``: what a relay answers and what
  a client makes of a RESERVE answer (the voucher verified before anything in it is used).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from libp2p._accel import varint_decode, varint_size
from libp2p.errors import DecodeError, TruncatedVarintError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.relay.wire import (
    MAX_MESSAGE_SIZE,
    HopMessage,
    HopType,
    Limit,
    RelayDecodeError,
    RelayStatusError,
    ReservationInfo,
    Status,
    StopMessage,
    StopType,
    Voucher,
    VoucherError,
    encode_hop,
    encode_stop,
    frame,
    open_voucher,
)

__all__ = [
    "RelayConfig",
    "MessageReader",
    "HopState",
    "Reservation",
    "DataBudget",
    "ClientReservation",
    "hop_status",
    "stop_status",
    "accept_reservation",
    "relayed_addrs",
]

P2P_CIRCUIT = "/p2p-circuit"


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """The hop service's limits, with go-libp2p's defaults (``relay.DefaultResources``)."""

    reservation_ttl: int = 3600  # seconds
    max_reservations: int = 128
    max_reservations_per_ip: int = 8
    max_circuits_per_peer: int = 16
    # go bounds circuits through its resource manager; we count them too.
    max_circuits: int = 1024
    # Applied to every circuit; None relays without limits (the circuits are then not "limited").
    limit: Limit | None = field(default_factory=lambda: Limit(duration=120, data=1 << 17))
    # Per-direction copy buffer. go's BufferSize is 2048; here each read-write costs a Python round
    # through two muxers, and 16 KiB relayed 2.7x faster than 2 KiB (benchmarks/relay_bench.py).
    buffer_size: int = 16384
    # Reading a HOP request, and the target's STOP answer (go: 1 min stream, 30 s connect).
    stream_timeout: float = 60.0
    connect_timeout: float = 30.0


class MessageReader:
    """Reads exactly one length-prefixed message of at most ``max_size`` bytes.

    ``receive_data`` returns True once the message is complete; ``message`` is its body and
    ``leftover`` the bytes that followed it (they belong to whoever reads the stream next)."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._max = max_size
        self._buf = bytearray()
        self._length: int | None = None
        self._start = 0
        self.message: bytes | None = None
        self.leftover = b""

    def receive_data(self, data: bytes | bytearray | memoryview) -> bool:
        if self.message is not None:
            self.leftover += bytes(data)
            return True
        self._buf += data
        if self._length is None:
            try:
                self._length, self._start = varint_decode(self._buf)
            except TruncatedVarintError:
                if len(self._buf) < varint_size(self._max):
                    return False
                raise RelayDecodeError(f"relay message longer than {self._max} bytes") from None
            except DecodeError as exc:
                raise RelayDecodeError(f"bad length prefix: {exc}") from None
            if self._length > self._max:
                raise RelayDecodeError(f"relay message of {self._length} bytes exceeds {self._max}")
        end = self._start + self._length
        if len(self._buf) < end:
            return False
        self.message = bytes(self._buf[self._start : end])
        self.leftover = bytes(self._buf[end:])
        self._buf = bytearray()
        return True

    def wanted(self) -> int:
        """How many more bytes complete the message (1 while the prefix is incomplete)."""
        if self._length is None:
            return 1
        return max(1, self._start + self._length - len(self._buf))


@dataclass(slots=True)
class Reservation:
    peer_id: PeerId
    ip: str | None
    expire: int  # unix seconds


class HopState:
    """The relay's bookkeeping: reservations and open circuits, and the limits on both."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._reservations: dict[PeerId, Reservation] = {}
        self._by_ip: Counter[str] = Counter()
        self._circuits: Counter[PeerId] = Counter()
        self.circuits = 0
        #: refusals by reason ("reservations", "reservations per ip", "circuits per peer", ...)
        self.refused: Counter[str] = Counter()

    # --- reservations ---------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        for peer in [p for p, r in self._reservations.items() if r.expire <= now]:
            self.remove(peer)

    def reserve(self, peer: PeerId, ip: str | None, now: float) -> tuple[Status, Reservation | None, bool]:
        """Accept or refresh ``peer``'s reservation: (status, reservation, refreshed)."""
        self._expire(now)
        expire = int(now) + self.config.reservation_ttl
        current = self._reservations.get(peer)
        if current is not None and current.ip == ip:
            current.expire = expire
            return Status.OK, current, True
        if current is not None:
            self.remove(peer)  # the peer moved: count it at its new address
        if len(self._reservations) >= self.config.max_reservations:
            self.refused["reservations"] += 1
            return Status.RESOURCE_LIMIT_EXCEEDED, None, False
        if ip is not None and self._by_ip[ip] >= self.config.max_reservations_per_ip:
            self.refused["reservations per ip"] += 1
            return Status.RESOURCE_LIMIT_EXCEEDED, None, False
        rsvp = Reservation(peer, ip, expire)
        self._reservations[peer] = rsvp
        if ip is not None:
            self._by_ip[ip] += 1
        return Status.OK, rsvp, False

    def reservation(self, peer: PeerId, now: float) -> Reservation | None:
        rsvp = self._reservations.get(peer)
        if rsvp is not None and rsvp.expire <= now:
            self.remove(peer)
            return None
        return rsvp

    def remove(self, peer: PeerId) -> None:
        rsvp = self._reservations.pop(peer, None)
        if rsvp is not None and rsvp.ip is not None:
            self._by_ip[rsvp.ip] -= 1
            if self._by_ip[rsvp.ip] <= 0:
                del self._by_ip[rsvp.ip]

    @property
    def reservations(self) -> int:
        return len(self._reservations)

    # --- circuits -------------------------------------------------------------------------------

    def open_circuit(self, source: PeerId, target: PeerId, now: float) -> Status:
        """Admit a circuit from ``source`` to ``target`` (call ``close_circuit`` when it ends)."""
        if self.reservation(target, now) is None:
            self.refused["no reservation"] += 1
            return Status.NO_RESERVATION
        if self.circuits >= self.config.max_circuits:
            self.refused["circuits"] += 1
            return Status.RESOURCE_LIMIT_EXCEEDED
        limit = self.config.max_circuits_per_peer
        if self._circuits[source] >= limit or self._circuits[target] >= limit:
            self.refused["circuits per peer"] += 1
            return Status.RESOURCE_LIMIT_EXCEEDED
        self._circuits[source] += 1
        self._circuits[target] += 1
        self.circuits += 1
        return Status.OK

    def close_circuit(self, source: PeerId, target: PeerId) -> None:
        for peer in (source, target):
            self._circuits[peer] -= 1
            if self._circuits[peer] <= 0:
                del self._circuits[peer]
        self.circuits -= 1

    def circuits_of(self, peer: PeerId) -> int:
        return self._circuits.get(peer, 0)


class DataBudget:
    """What one direction of a circuit may still carry (``limit`` 0: unlimited)."""

    def __init__(self, limit: int) -> None:
        self.remaining: int | None = limit if limit > 0 else None
        self.carried = 0

    def take(self, n: int) -> int:
        """How many of ``n`` bytes may go through (all of them, until the limit)."""
        if self.remaining is not None:
            n = min(n, self.remaining)
            self.remaining -= n
        self.carried += n
        return n

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


# --- messages the two sides build -------------------------------------------------------------


def hop_status(status: Status, *, reservation: ReservationInfo | None = None, limit: Limit | None = None) -> bytes:
    return frame(encode_hop(HopMessage(HopType.STATUS, reservation=reservation, limit=limit, status=int(status))))


def stop_status(status: Status) -> bytes:
    return frame(encode_stop(StopMessage(StopType.STATUS, status=int(status))))


@dataclass(frozen=True, slots=True)
class ClientReservation:
    """A reservation as the client holds it: checked, with its voucher verified."""

    relay: PeerId
    expire: int
    addrs: tuple[Multiaddr, ...]  # the relay's addresses, each ending in /p2p/<relay>
    voucher: Voucher | None
    limit: Limit | None


def accept_reservation(msg: HopMessage, *, relay: PeerId, me: PeerId, now: float) -> ClientReservation:
    """Check a relay's answer to RESERVE: status OK, an expiry in the future, and (when sent) a
    voucher signed by ``relay`` about ``me`` with the same expiry, verified before use.

    Raises ``RelayStatusError`` for a refusal, ``RelayDecodeError`` for an answer that is not a
    reservation, ``VoucherError`` for a voucher that does not verify."""
    if msg.type != HopType.STATUS:
        raise RelayDecodeError(f"expected a STATUS answer, got {msg.type.name}")
    if msg.status != Status.OK:
        raise RelayStatusError(msg.status if msg.status is not None else 0, f"relay {relay} refused the reservation")
    rsvp = msg.reservation
    if rsvp is None or rsvp.expire is None:
        raise RelayDecodeError("reservation answer without a reservation expiry")
    if rsvp.expire <= now:
        raise RelayDecodeError("the reservation is already expired")
    voucher = None
    if rsvp.voucher is not None:
        voucher = open_voucher(rsvp.voucher, relay=relay, peer=me)
        if voucher.expiration != rsvp.expire:
            raise VoucherError("the voucher's expiration is not the reservation's")
    addrs = []
    for addr in rsvp.addrs:
        if addr.has_protocol("p2p-circuit"):
            continue  # the relay's own addresses only
        if addr.peer_id is None:
            addr = addr.encapsulate(f"/p2p/{relay}")
        elif addr.peer_id != relay:
            continue
        addrs.append(addr)
    return ClientReservation(relay, rsvp.expire, tuple(addrs), voucher, msg.limit)


def relayed_addrs(reservation: ClientReservation) -> list[Multiaddr]:
    """Our addresses through a relay: ``<relay addr>/p2p/<relay>/p2p-circuit``."""
    return [a.encapsulate(P2P_CIRCUIT) for a in reservation.addrs]
