"""Circuit relay v2 as host services: the relay (``RelayService``, hop) and the client
(``RelayClient``: reservations, the stop handler, and the circuit transport's dialer).

A relayed connection is a raw pipe over the HOP stream (dialer) or the STOP stream (target),
upgraded by the host like a TCP socket (security end to end, then the muxer), so every protocol
runs over it; when the relay sets limits the connection is marked limited and the host runs on
it only the protocols that opt in (identify and ping do). The relay resets both streams when a
circuit reaches its data or duration limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.errors import Libp2pError
from libp2p.host.events import (
    LocalAddressesUpdated,
    LocalReachabilityChanged,
    PeerDisconnected,
    PeerProtocolsUpdated,
    Reachability,
)
from libp2p.host.host import is_limited
from libp2p.host.service import Service
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.relay.core import (
    ClientReservation,
    DataBudget,
    HopState,
    MessageReader,
    RelayConfig,
    accept_reservation,
    hop_status,
    relayed_addrs,
    stop_status,
)
from libp2p.protocols.relay.events import (
    CircuitClosed,
    CircuitOpened,
    CircuitRefused,
    ReservationAccepted,
    ReservationLost,
    ReservationMade,
    ReservationRefused,
)
from libp2p.protocols.relay.wire import (
    HOP_PROTOCOL_ID,
    STOP_PROTOCOL_ID,
    HopMessage,
    HopType,
    Limit,
    PeerInfoMessage,
    RelayDecodeError,
    RelayStatusError,
    ReservationInfo,
    Status,
    StopMessage,
    StopType,
    decode_hop,
    decode_stop,
    encode_hop,
    encode_stop,
    frame,
    seal_voucher,
)
from libp2p.resources import ip_of
from libp2p.transport.circuit import CircuitTransport, is_circuit_addr
from libp2p.transport.stream_pipe import raw_connection_over

if TYPE_CHECKING:
    from libp2p.abc import Stream
    from libp2p.host.host import Host
    from libp2p.transport.connection import RawConnection

__all__ = ["RelayService", "RelayClient", "RelayClientConfig", "read_message"]

log = logging.getLogger("libp2p.protocols.relay")

_PROTECT_TAG = "relay-reservation"


async def read_message(stream: Stream, timeout: float | None) -> bytes:
    """One length-prefixed relay message, never reading past it (what follows a STATUS OK is
    the relayed connection). ``EOFError`` if the stream ends first; ``RelayDecodeError`` if the
    message is malformed or too long; ``TimeoutError``."""
    reader = MessageReader()
    async with asyncio.timeout(timeout):
        while True:
            data = await stream.read(reader.wanted())
            if not data:
                raise EOFError("the stream ended before the relay message")
            if reader.receive_data(data):
                break
    if reader.leftover:
        stream.unread(reader.leftover)
    assert reader.message is not None
    return reader.message


async def _reset(*streams: Stream) -> None:
    for stream in streams:
        try:
            await stream.reset()
        except Exception:  # noqa: BLE001 - already gone
            pass


# --- the relay ------------------------------------------------------------------------------------


class RelayService(Service):
    """The hop side of circuit relay v2 (``serve --relay-service``): reservations with signed
    vouchers, circuits spliced between a source and a reserved target, within the limits of
    ``RelayConfig`` (go-libp2p's defaults)."""

    name = "relay"

    def __init__(self, config: RelayConfig | None = None) -> None:
        super().__init__()
        self.config = config or RelayConfig()
        self.state = HopState(self.config)
        #: circuits closed by reason ("closed", "data limit", "duration limit", "error")
        self.closed_circuits: dict[str, int] = {}
        #: requests answered MALFORMED_MESSAGE or UNEXPECTED_MESSAGE
        self.bad_requests = 0
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def protocols(self) -> tuple[str, ...]:
        return (HOP_PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        # Not on limited connections: no reservations or circuits over relayed connections.
        host.set_stream_handler(HOP_PROTOCOL_ID, self._handle_hop)
        self._unsubscribe = [host.events.subscribe(PeerDisconnected, self._peer_gone)]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _peer_gone(self, event: PeerDisconnected) -> None:
        # A reservation lasts while the peer stays connected to us.
        if self.state.reservation(event.peer_id, time.time()) is not None:
            self.state.remove(event.peer_id)
            self.host.connmgr.unprotect(event.peer_id, _PROTECT_TAG)

    def _relay_addrs(self) -> list[Multiaddr]:
        suffix = Multiaddr(f"/p2p/{self.host.peer_id}")
        return [a.encapsulate(suffix) for a in self.host.addrs if not is_circuit_addr(a)]

    async def _handle_hop(self, stream: Stream) -> None:
        try:
            msg = decode_hop(await read_message(stream, self.config.stream_timeout))
        except RelayDecodeError as exc:
            log.warning("malformed HOP request from %s: %s", stream.remote_peer_id, exc)
            self.bad_requests += 1
            await stream.write(hop_status(Status.MALFORMED_MESSAGE))
            return
        except (TimeoutError, EOFError):
            await stream.reset()
            return
        remote = stream.conn.remote_addr
        if is_limited(stream.conn) or (remote is not None and is_circuit_addr(remote)):
            await stream.write(hop_status(Status.PERMISSION_DENIED))  # no relaying over a relay
        elif msg.type == HopType.RESERVE:
            await self._reserve(stream)
        elif msg.type == HopType.CONNECT:
            await self._connect(stream, msg)
        else:
            log.warning("unexpected HOP %s from %s", msg.type.name, stream.remote_peer_id)
            self.bad_requests += 1
            await stream.write(hop_status(Status.UNEXPECTED_MESSAGE))

    async def _reserve(self, stream: Stream) -> None:
        peer = stream.remote_peer_id
        ip = ip_of(stream.conn.remote_addr)
        status, rsvp, refreshed = self.state.reserve(peer, str(ip) if ip is not None else None, time.time())
        if status != Status.OK or rsvp is None:
            log.debug("refused a reservation of %s: %s", peer, status.name)
            await stream.write(hop_status(status))
            self.host.events.emit(ReservationRefused(peer, int(status)))
            return
        self.host.connmgr.protect(peer, _PROTECT_TAG)
        voucher = seal_voucher(self.host.key, peer, rsvp.expire)
        info = ReservationInfo(expire=rsvp.expire, addrs=tuple(self._relay_addrs()), voucher=voucher)
        await stream.write(hop_status(Status.OK, reservation=info, limit=self.config.limit))
        self.host.events.emit(ReservationAccepted(peer, rsvp.expire, refreshed))

    async def _refuse_circuit(self, stream: Stream, target: PeerId, status: Status) -> None:
        log.debug("refused a circuit %s -> %s: %s", stream.remote_peer_id, target, status.name)
        await stream.write(hop_status(status))
        self.host.events.emit(CircuitRefused(stream.remote_peer_id, target, int(status)))

    async def _connect(self, stream: Stream, msg: HopMessage) -> None:
        source = stream.remote_peer_id
        if msg.peer is None:
            self.bad_requests += 1
            await stream.write(hop_status(Status.MALFORMED_MESSAGE))
            return
        target = msg.peer.peer_id
        if target == source or target == self.host.peer_id:
            await self._refuse_circuit(stream, target, Status.PERMISSION_DENIED)
            return
        status = self.state.open_circuit(source, target, time.time())
        if status != Status.OK:
            await self._refuse_circuit(stream, target, status)
            return
        try:
            out = await self._stop(source, target)
            if out is None:
                await self._refuse_circuit(stream, target, Status.CONNECTION_FAILED)
                return
            try:
                await stream.write(hop_status(Status.OK, limit=self.config.limit))
            except BaseException:
                await _reset(out)
                raise
            self.host.events.emit(CircuitOpened(source, target))
            reason, relayed = await self._splice(stream, out)
            self.closed_circuits[reason] = self.closed_circuits.get(reason, 0) + 1
            self.host.events.emit(CircuitClosed(source, target, reason, relayed))
        finally:
            self.state.close_circuit(source, target)

    async def _stop(self, source: PeerId, target: PeerId) -> Stream | None:
        """Open STOP to ``target`` on a direct connection we have and get its OK; None if not."""
        conns = [c for c in self.host.connections(target) if not c.is_closed and not is_limited(c)]
        if not conns:
            return None
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                out = await self.host.open_stream_on(conns[0], [STOP_PROTOCOL_ID])
                try:
                    request = StopMessage(StopType.CONNECT, peer=PeerInfoMessage(source), limit=self.config.limit)
                    await out.write(frame(encode_stop(request)))
                    answer = decode_stop(await read_message(out, None))
                except BaseException:
                    await _reset(out)
                    raise
        except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
            log.debug("STOP to %s failed: %r", target, exc)
            return None
        if answer.type != StopType.STATUS or answer.status != Status.OK:
            log.debug("%s refused the circuit from %s: %s", target, source, answer.status)
            await _reset(out)
            return None
        return out

    async def _splice(self, a: Stream, b: Stream) -> tuple[str, tuple[int, int]]:
        """Copy both ways until both halves end, a limit is reached or a side fails; the
        streams are reset unless both ended cleanly."""
        limit = self.config.limit or Limit()
        up, down = DataBudget(limit.data), DataBudget(limit.data)
        size = self.config.buffer_size

        async def pump(src: Stream, dst: Stream, budget: DataBudget) -> str:
            while True:
                data = await src.read(size)
                if not data:
                    await dst.close()
                    return "closed"
                n = budget.take(len(data))
                if n:
                    await dst.write(data[:n] if n < len(data) else data)
                if budget.exhausted:
                    return "data limit"

        tasks = [asyncio.ensure_future(pump(a, b, up)), asyncio.ensure_future(pump(b, a, down))]
        reason = "closed"
        try:
            async with asyncio.timeout(limit.duration or None):
                pending = set(tasks)
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        if task.exception() is not None:
                            reason = "error"
                        elif task.result() != "closed":
                            reason = task.result()
                    if reason != "closed":
                        break
        except TimeoutError:
            reason = "duration limit"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if reason != "closed":
            await _reset(a, b)
        return reason, (up.carried, down.carried)


# --- the client -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayClientConfig:
    """The relay client's timings (go's autorelay/client defaults where it has one)."""

    # A whole HOP exchange (reserve or connect) with the relay.
    hop_timeout: float = 30.0
    # Reading the relay's STOP request.
    stop_timeout: float = 60.0
    # Refresh a reservation this long before it expires (at the latest, a quarter of its TTL).
    refresh_slack: float = 120.0
    # Retry a relay that refused us or went away after this, doubling up to the maximum.
    backoff: float = 1.0
    max_backoff: float = 60.0


class RelayClient(Service):
    """The client side of circuit relay v2: keeps reservations on ``relays`` (refreshed before
    they expire, renewed when the relay comes back), accepts circuits (STOP), and dials
    ``/…/p2p/RELAY/p2p-circuit/p2p/TARGET`` through its ``CircuitTransport``, which it adds to the
    host. Our relayed addresses are the host's ``/p2p-circuit`` listener's addresses.

    ``discover_relays``: also reserve on up to this many connected peers that identify says
    offer hop (as js-libp2p's ``discoverRelays``), held while they stay connected;
    ``when_private``: only once AutoNAT says we are not reachable (go's autorelay)."""

    name = "relay-client"

    def __init__(
        self,
        relays: Sequence[Multiaddr | str] = (),
        config: RelayClientConfig | None = None,
        *,
        discover_relays: int = 0,
        when_private: bool = False,
    ) -> None:
        super().__init__()
        self.config = config or RelayClientConfig()
        self.relays = [a if isinstance(a, Multiaddr) else Multiaddr(a) for a in relays]
        self.discover_relays = discover_relays
        self.when_private = when_private
        self._discovered: set[PeerId] = set()
        self.transport = CircuitTransport(self._dial)
        #: our reservations by relay
        self.reservations: dict[PeerId, ClientReservation] = {}
        self._lost: dict[PeerId, asyncio.Event] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def protocols(self) -> tuple[str, ...]:
        return (STOP_PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.add_transport(self.transport)
        host.set_stream_handler(STOP_PROTOCOL_ID, self._handle_stop)
        self._unsubscribe = [host.events.subscribe(PeerDisconnected, self._peer_gone)]
        if self.discover_relays:
            self._unsubscribe.append(host.events.subscribe(PeerProtocolsUpdated, self._maybe_relay))
            self._unsubscribe.append(host.events.subscribe(LocalReachabilityChanged, self._reachability_changed))
        await host.listen("/p2p-circuit")
        for addr in self.relays:
            host.spawn(self._keep_reservation(addr), f"relay reservation on {addr}")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    @property
    def relayed_addrs(self) -> list[Multiaddr]:
        """Our addresses through our relays (without ``/p2p/<us>``)."""
        return [a for r in self.reservations.values() for a in relayed_addrs(r)]

    def _addrs_changed(self) -> None:
        before = set(self.host.addrs)
        if self.transport.set_addrs(self.relayed_addrs):
            current = tuple(self.host.addrs)
            self.host.events.emit(LocalAddressesUpdated(current, tuple(before - set(current))))

    def _peer_gone(self, event: PeerDisconnected) -> None:
        if self.reservations.pop(event.peer_id, None) is not None:
            self._addrs_changed()
            self.host.events.emit(ReservationLost(event.peer_id, "disconnected"))
        lost = self._lost.get(event.peer_id)
        if lost is not None:
            lost.set()

    # --- reservations -----------------------------------------------------------------------------

    async def reserve(self, relay: Multiaddr | str | PeerId) -> ClientReservation:
        """Reserve (or refresh) a slot on ``relay`` (``/…/p2p/<relay>``, or a connected peer)."""
        host = self.host
        if isinstance(relay, PeerId):
            relay_id = relay
        else:
            relay_id = await host.connect(relay)
        async with asyncio.timeout(self.config.hop_timeout):
            stream = await host.new_stream(relay_id, [HOP_PROTOCOL_ID])
            try:
                await stream.write(frame(encode_hop(HopMessage(HopType.RESERVE))))
                answer = decode_hop(await read_message(stream, None))
                reservation = accept_reservation(answer, relay=relay_id, me=host.peer_id, now=time.time())
            except BaseException:
                await _reset(stream)
                raise
            await stream.close()
        if not host.connections(relay_id):
            raise EOFError(f"relay {relay_id} went away during the reservation")
        self.reservations[relay_id] = reservation
        self._addrs_changed()
        host.events.emit(ReservationMade(relay_id, reservation.expire, tuple(relayed_addrs(reservation))))
        return reservation

    def _reachability_changed(self, event: LocalReachabilityChanged) -> None:
        if event.reachability == Reachability.PRIVATE:
            for peer in self.host.connected_peers():
                if HOP_PROTOCOL_ID in self.host.peerstore.protocols(peer):
                    self._maybe_relay(PeerProtocolsUpdated(peer, frozenset((HOP_PROTOCOL_ID,)), frozenset()))

    def _maybe_relay(self, event: PeerProtocolsUpdated) -> None:
        peer = event.peer_id
        if self.when_private and self.host.reachability != Reachability.PRIVATE:
            return
        if (
            HOP_PROTOCOL_ID in event.added
            and peer not in self.reservations
            and peer not in self._discovered
            and len(self._discovered) < self.discover_relays
            and all(addr.peer_id != peer for addr in self.relays)
        ):
            self._discovered.add(peer)
            self.host.spawn(self._keep_discovered(peer), f"relay reservation on {peer}")

    async def _keep_discovered(self, relay: PeerId) -> None:
        """Hold a reservation on a discovered relay while it stays connected and accepts us."""
        lost = self._lost[relay] = asyncio.Event()
        try:
            while True:
                try:
                    reservation = await self.reserve(relay)
                except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
                    log.info("reservation on discovered relay %s failed: %s", relay, exc)
                    return
                ttl = reservation.expire - time.time()
                try:
                    async with asyncio.timeout(max(ttl - min(self.config.refresh_slack, ttl / 4), 0.5)):
                        await lost.wait()
                    return
                except TimeoutError:
                    continue  # refresh
        finally:
            self._discovered.discard(relay)
            if self._lost.get(relay) is lost:
                del self._lost[relay]

    async def _keep_reservation(self, addr: Multiaddr) -> None:
        """Hold a reservation on the relay at ``addr`` for as long as the host runs."""
        relay_id = addr.peer_id
        backoff = self.config.backoff
        await self.host.wait_started()
        while True:
            lost = asyncio.Event()
            if relay_id is not None:
                self._lost[relay_id] = lost
            try:
                reservation = await self.reserve(addr)
            except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
                log.info("reservation on %s failed: %s; retrying in %.0f s", addr, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
                continue
            relay_id = reservation.relay
            self._lost[relay_id] = lost
            backoff = self.config.backoff
            ttl = reservation.expire - time.time()
            wait = max(ttl - min(self.config.refresh_slack, ttl / 4), 0.5)
            try:
                async with asyncio.timeout(wait):
                    await lost.wait()
            except TimeoutError:
                continue  # refresh
            await asyncio.sleep(backoff)  # the relay went away: reconnect after a pause

    # --- inbound circuits (STOP) -----------------------------------------------------------------

    async def _handle_stop(self, stream: Stream) -> None:
        relay = stream.remote_peer_id
        try:
            msg = decode_stop(await read_message(stream, self.config.stop_timeout))
        except RelayDecodeError as exc:
            log.warning("malformed STOP request from %s: %s", relay, exc)
            await stream.write(stop_status(Status.MALFORMED_MESSAGE))
            return
        except (TimeoutError, EOFError):
            await stream.reset()
            return
        if msg.type != StopType.CONNECT:
            await stream.write(stop_status(Status.UNEXPECTED_MESSAGE))
            return
        if msg.peer is None:
            await stream.write(stop_status(Status.MALFORMED_MESSAGE))
            return
        if not self.transport.listening:
            await stream.write(stop_status(Status.CONNECTION_FAILED))
            return
        await stream.write(stop_status(Status.OK))
        raw = raw_connection_over(
            stream,
            is_initiator=False,
            limited=msg.limit is not None,
            remote_addr=Multiaddr(f"/p2p/{relay}/p2p-circuit"),
        )
        log.debug("circuit from %s through %s", msg.peer.peer_id, relay)
        if self.transport.accept(raw):
            await raw.wait_closed()  # the stream carries the connection until it ends

    # --- outbound circuits (the transport's dialer) ----------------------------------------------

    async def _dial(self, relay_addr: Multiaddr, target: PeerId, timeout: float | None) -> RawConnection:
        host = self.host
        relay = relay_addr.peer_id
        assert relay is not None
        async with asyncio.timeout(timeout if timeout is not None else self.config.hop_timeout):
            if len(relay_addr.components()) > 1:
                await host.connect(relay_addr)
            stream = await host.new_stream(relay, [HOP_PROTOCOL_ID])
            try:
                await stream.write(frame(encode_hop(HopMessage(HopType.CONNECT, peer=PeerInfoMessage(target)))))
                answer = decode_hop(await read_message(stream, None))
                if answer.type != HopType.STATUS:
                    raise RelayDecodeError(f"expected a STATUS answer to CONNECT, got {answer.type.name}")
                if answer.status != Status.OK:
                    raise RelayStatusError(answer.status or 0, f"relay {relay} could not connect us to {target}")
            except BaseException:
                await _reset(stream)
                raise
        return raw_connection_over(
            stream,
            is_initiator=True,
            limited=answer.limit is not None,
            remote_addr=relay_addr.encapsulate("/p2p-circuit"),
        )
