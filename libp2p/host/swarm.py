"""The swarm: transports, listeners, the connection table, dialing and admission.

Apart from the host's handlers and negotiation, as go's Swarm is from its BasicHost and rust's
Swarm from its NetworkBehaviours. It admits every connection through the resource manager
(and the connection manager's per-address limits) before a handshake byte is read, and treats
both kinds of transport alike once a connection is secured and multiplexed: raw pipes go
through the upgrader, upgraded transports hand over a finished connection.

Pending inbound handshakes are scarce: when they are all taken, the newcomer is admitted and
the one that has been idle longest is dropped (a silent connection, first), so connections
that never speak cannot lock out a client that does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from libp2p.errors import Libp2pError, LocalProtocolError, PeerIdMismatchError
from libp2p.multiaddr import P_DNS, P_DNS4, P_DNS6, P_DNSADDR, P_P2P_CIRCUIT, P_QUIC_V1, Multiaddr
from libp2p.resources import Direction, ResourceLimitExceededError
from libp2p.transport.tcp import DialError

if TYPE_CHECKING:
    from libp2p.abc import Connection, Listener, Transport, UpgradedTransport
    from libp2p.dns import DNSResolver
    from libp2p.host.connmgr import ConnectionManager
    from libp2p.host.inbound import InboundUpgrade
    from libp2p.muxer.connection import MuxedConnection
    from libp2p.host.upgrader import Upgrader
    from libp2p.identity.peer_id import PeerId
    from libp2p.peerstore import Peerstore
    from libp2p.resources import ConnectionScope, ResourceManager
    from libp2p.transport.connection import RawConnection

__all__ = ["Swarm", "NoAddressesError"]

log = logging.getLogger("libp2p.host.swarm")

_INBOUND = Direction.INBOUND

# How long a duplicate connection (simultaneous dial) may stay idle before it is closed.
_DUPLICATE_GRACE = 1.0


class NoAddressesError(DialError):
    """No known address for the peer."""


def _relayed(conn: Connection) -> bool:
    # A relayed connection is replaced by a direct one (DCUtR), whoever dialed: never paired here.
    addr = conn.remote_addr
    return addr is not None and addr.has_protocol(P_P2P_CIRCUIT)


class Swarm:
    def __init__(
        self,
        local_peer_id: PeerId,
        *,
        config: Any,
        transports: Sequence[Transport | UpgradedTransport],
        upgrader: Upgrader,
        peerstore: Peerstore,
        resolver: DNSResolver,
        resources: ResourceManager | None,
        connmgr: ConnectionManager,
        spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]],
        on_connection: Callable[[Connection, bool], None],
        on_connection_closed: Callable[[Connection, bool], None],
        on_stream: Callable[[Any], None],
    ) -> None:
        self.local_peer_id = local_peer_id
        self.config = config
        self.transports = list(transports)
        self.upgrader = upgrader
        self.peerstore = peerstore
        self.resolver = resolver
        self.resources = resources
        self.connmgr = connmgr
        self._spawn = spawn
        # Called with the connection and whether it is the peer's first (opened) or it was the
        # peer's last (closed): the swarm knows, without the host asking it again.
        self._on_connection = on_connection
        self._on_connection_closed = on_connection_closed
        self._on_stream = on_stream
        self.listeners: list[Listener] = []
        self._connections: dict[PeerId, list[Connection]] = {}
        # Connections that lost to one in the other direction (both peers dialed each other):
        # no longer offered for new streams, closed once their streams are done. The value says
        # whether the host was told of the connection (it then hears of its closing too).
        self._draining: dict[Connection, bool] = {}
        self._pending_dials: dict[PeerId, asyncio.Future[Connection]] = {}
        self._pending_inbound: dict[RawConnection, InboundUpgrade] = {}
        self.closing = False
        #: inbound handshakes dropped to make room for newer ones
        self.evicted_handshakes = 0

    # --- listening --------------------------------------------------------------------------------

    async def listen(self, addr: Multiaddr) -> list[Multiaddr]:
        for transport in self.transports:
            if transport.can_listen(addr):
                if transport.upgraded:
                    listener = await transport.listen(addr, self._on_inbound_upgraded)  # type: ignore[arg-type]
                else:
                    listener = await transport.listen(addr, self._on_inbound)  # type: ignore[arg-type]
                self.listeners.append(listener)
                return list(listener.addrs)
        raise LocalProtocolError(f"no transport can listen on {addr}")

    @property
    def addrs(self) -> list[Multiaddr]:
        return [a for listener in self.listeners for a in listener.addrs]

    def can_dial(self, addr: Multiaddr) -> bool:
        return any(t.can_dial(addr) for t in self.transports)

    async def close(self) -> None:
        self.closing = True  # from here, new inbound connections are closed on arrival
        for pending in self._pending_dials.values():
            pending.cancel()
        for entry in list(self._pending_inbound.values()):
            entry.raw.abort()
        conns = [c for cs in self._connections.values() for c in cs] + list(self._draining)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

    async def close_listeners(self) -> None:
        # Last: since Python 3.12, Server.wait_closed() waits for every connection it accepted.
        listeners, self.listeners = self.listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners), return_exceptions=True)

    # --- the connection table -------------------------------------------------------------------

    def connections(self, peer_id: PeerId | None = None) -> list[Connection]:
        if peer_id is not None:
            return list(self._connections.get(peer_id, ()))
        return [c for cs in self._connections.values() for c in cs]

    def connection_count(self, peer_id: PeerId) -> int:
        """How many connections to ``peer_id`` are in the table (without copying them)."""
        conns = self._connections.get(peer_id)
        return len(conns) if conns is not None else 0

    def connected_peers(self) -> list[PeerId]:
        return [p for p, cs in self._connections.items() if cs]

    @property
    def pending_inbound(self) -> int:
        return len(self._pending_inbound)

    def preferred(self, peer_id: PeerId) -> Connection | None:
        table = self._connections.get(peer_id)
        if not table:
            return None
        if len(table) == 1:  # the usual case, once per stream opened: nothing to rank
            only = table[0]
            return None if only.is_closed else only
        conns = [c for c in table if not c.is_closed]
        if not conns:
            return None

        # Both ends agree on which of two simultaneous connections to keep: the one whose
        # dialer has the smaller peer ID.
        # A direct connection is preferred to a limited (relayed) one.
        def rank(c: Connection) -> tuple[bool, bool, float]:
            dialer = self.local_peer_id if c.is_initiator else c.remote_peer_id
            other = c.remote_peer_id if c.is_initiator else self.local_peer_id
            return (bool(getattr(c, "limited", False)), not bytes(dialer) < bytes(other), c.opened_at)

        return min(conns, key=rank)

    def _add(self, conn: Connection) -> None:
        """A secured, multiplexed connection of either kind of transport joins the table."""
        scope = conn.scope
        if scope is not None:
            try:
                scope.set_peer(conn.remote_peer_id)
            except ResourceLimitExceededError:
                self._spawn(conn.close(), f"refuse {conn.remote_peer_id}")
                raise
        peer = conn.remote_peer_id
        conns = self._connections.setdefault(peer, [])
        self.connmgr.connection_opened(conn)
        if not conns:  # the peer's first connection (the usual case): no pairing to decide
            conns.append(conn)
            self._on_connection(conn, True)
            # Started last: what arrived with the handshake may open streams or end the connection.
            conn.start(self._on_stream, self._closed)
            return
        # Both peers dialed each other (at once, or one right after the other): both ends keep
        # the connection whose dialer has the smaller peer ID, so the two tables agree. The
        # other one still serves the streams already on it and closes once they are done.
        crossed = [c for c in conns if c.is_initiator != conn.is_initiator and not c.is_closed
                   and not _relayed(c) and not _relayed(conn)]
        if crossed and not self._dialer_is_smaller(conn):
            self._draining[conn] = False  # the host never hears of it
            self._spawn(self._drain(conn), f"drain {peer}")
            conn.start(self._on_stream, self._closed)
            return
        conns.append(conn)
        if len(conns) > 1 + len(crossed):
            self._spawn(self._prune_duplicates(peer), f"prune {peer}")
        self._on_connection(conn, len(conns) == 1)
        for loser in crossed:
            conns.remove(loser)
            self._draining[loser] = True
            self._spawn(self._drain(loser), f"drain {peer}")
        # Started last: what arrived with the handshake may open streams or end the connection.
        conn.start(self._on_stream, self._closed)

    def _dialer_is_smaller(self, conn: Connection) -> bool:
        dialer = self.local_peer_id if conn.is_initiator else conn.remote_peer_id
        listener = conn.remote_peer_id if conn.is_initiator else self.local_peer_id
        return bytes(dialer) < bytes(listener)

    async def _drain(self, conn: Connection) -> None:
        """Close a connection that lost to one in the other direction, once no stream uses it.

        The grace lets the remote, which may not have seen the winner yet, finish what it
        started on this one; the loop ends when the connection closes (at the latest with us).
        """
        while not conn.is_closed:
            await asyncio.sleep(_DUPLICATE_GRACE)
            if not conn.streams and not conn.is_closed:
                log.debug("closing %r: the connection in the other direction is kept", conn)
                await conn.close()

    async def _prune_duplicates(self, peer: PeerId) -> None:
        await asyncio.sleep(_DUPLICATE_GRACE)
        keep = self.preferred(peer)
        for conn in self.connections(peer):
            if conn is not keep and not conn.streams:
                log.debug("closing duplicate connection %r", conn)
                await conn.close()

    def _closed(self, conn: Connection) -> None:
        connmgr = self.connmgr
        connmgr.connection_closed(conn)
        if not conn.is_initiator:
            connmgr.release_inbound(conn.remote_addr)
        peer = conn.remote_peer_id
        if self._draining:  # (usually empty: no lookup then)
            announced = self._draining.pop(conn, None)
            if announced is not None:
                if announced:
                    self._on_connection_closed(conn, not self._connections.get(peer))
                return
        conns = self._connections.get(peer)
        if conns is not None and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._connections[peer]
            self._on_connection_closed(conn, not conns)

    # --- inbound ---------------------------------------------------------------------------------

    def _admit(self, direction: Direction, addr: Multiaddr | None, uses_fd: bool = True) -> ConnectionScope | None:
        if self.resources is None:
            return None
        return self.resources.open_connection(direction, addr, uses_fd=uses_fd)

    def _evict_idlest_handshake(self) -> bool:
        """Drop the pending inbound handshake that received nothing for the longest time."""
        if not self._pending_inbound:
            return False
        victim = min(self._pending_inbound.values(), key=lambda p: p.raw.last_activity)
        log.debug("dropping the idlest pending handshake (%s) for a newcomer", victim.raw.remote_addr)
        self.evicted_handshakes += 1
        self._drop_pending(victim)
        return True

    def _drop_pending(self, entry: InboundUpgrade) -> None:
        self._pending_inbound.pop(entry.raw, None)
        entry.raw.abort()
        entry.cancel()
        if entry.scope is not None:
            entry.scope.done()
        self.connmgr.release_inbound(entry.raw.remote_addr)

    def _admit_again(self, exc: ResourceLimitExceededError, addr: Multiaddr | None) -> ConnectionScope | None:
        # The transient scope holds pending handshakes: make room there the same way.
        if exc.scope != "transient" or not self._evict_idlest_handshake():
            raise exc
        return self._admit(Direction.INBOUND, addr)

    def _on_inbound(self, raw: RawConnection) -> None:
        if self.closing:
            raw.abort()
            return
        addr = raw.remote_addr
        if not self.connmgr.admit_inbound(addr):
            raw.abort()
            return
        # Counted here, as the connection arrives: a task's first step may run only after many
        # more connections were accepted in the same loop iteration.
        if len(self._pending_inbound) >= self.config.max_pending_inbound:
            self._evict_idlest_handshake()
        resources = self.resources
        try:
            # (the resource manager directly, not through _admit: once per connection)
            try:
                scope = resources.open_connection(_INBOUND, addr) if resources is not None else None
            except ResourceLimitExceededError as exc:
                scope = self._admit_again(exc, addr)
        except ResourceLimitExceededError:
            self.connmgr.release_inbound(addr)
            raw.abort()
            return
        # Upgraded from the connection's own callbacks: no task unless a step needs one.
        entry = self.upgrader.inbound(raw, scope, self)
        self._pending_inbound[raw] = entry
        entry.start()

    # What an inbound upgrade reports (``libp2p.host.inbound.InboundOwner``).

    def inbound_upgraded(self, entry: InboundUpgrade, conn: MuxedConnection) -> None:
        raw = entry.raw
        self._pending_inbound.pop(raw, None)
        if self.closing:
            raw.close()
            if entry.scope is not None:
                entry.scope.done()
            return
        try:
            self._add(conn)
        except ResourceLimitExceededError:
            self.connmgr.release_inbound(raw.remote_addr)

    def inbound_failed(self, entry: InboundUpgrade, exc: BaseException) -> None:
        raw = entry.raw
        if isinstance(exc, (Libp2pError, OSError, EOFError)):
            log.warning("inbound upgrade from %s failed: %s: %s", raw.remote_addr, type(exc).__name__, exc)
        elif not isinstance(exc, asyncio.CancelledError):
            # A bug: never leave the socket open.
            log.error("inbound upgrade from %s failed unexpectedly", raw.remote_addr, exc_info=exc)
        # Cancelled: evicted, or the host is closing.
        if self._pending_inbound.get(raw) is entry:
            self._drop_pending(entry)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[Any]:
        return self._spawn(coro, name)

    def _on_inbound_upgraded(self, conn: Connection) -> None:
        """An upgraded transport accepted and authenticated a connection."""
        if self.closing or not self.connmgr.admit_inbound(conn.remote_addr):
            self._spawn(conn.close(), "refuse inbound")
            return
        try:
            conn.scope = self._admit(Direction.INBOUND, conn.remote_addr, uses_fd=False)
            self._add(conn)
        except ResourceLimitExceededError:
            self.connmgr.release_inbound(conn.remote_addr)
            self._spawn(conn.close(), "refuse inbound")

    # --- outbound --------------------------------------------------------------------------------

    async def connection_to(self, peer_id: PeerId, addrs: Iterable[Multiaddr] = ()) -> Connection:
        if peer_id == self.local_peer_id:
            raise LocalProtocolError("cannot dial ourselves")
        existing = self.preferred(peer_id)
        if existing is not None:
            return existing
        pending = self._pending_dials.get(peer_id)
        if pending is None:
            pending = asyncio.ensure_future(self._dial(peer_id, list(addrs)))
            self._pending_dials[peer_id] = pending
            pending.add_done_callback(lambda _: self._pending_dials.pop(peer_id, None))
        return await asyncio.shield(pending)

    async def _resolve(self, addrs: list[Multiaddr], errors: list[str]) -> list[Multiaddr]:
        out: list[Multiaddr] = []
        dns_codes = {P_DNS, P_DNS4, P_DNS6, P_DNSADDR}
        for addr in addrs:
            if any(c.protocol.code in dns_codes for c in addr.components()):
                try:
                    out.extend(await self.resolver.resolve(addr))
                except Libp2pError as exc:
                    log.debug("could not resolve %s: %s", addr, exc)
                    errors.append(f"{addr}: {exc}")
            else:
                out.append(addr)
        return out

    async def _dial(self, peer_id: PeerId, addrs: list[Multiaddr]) -> Connection:
        candidates = addrs or self.peerstore.addrs(peer_id)
        if not candidates:
            raise NoAddressesError(f"no addresses known for {peer_id}")
        errors: list[str] = []
        try:
            async with asyncio.timeout(self.config.dial_timeout):
                resolved = await self._resolve(candidates, errors)
                # QUIC first when a peer has both (as go-libp2p ranks them): one round trip
                # fewer, and a UDP path is what hole punching needs later. Stable otherwise.
                resolved.sort(key=lambda a: not any(c.protocol.code == P_QUIC_V1 for c in a.components()))
                for addr in resolved:
                    if addr.peer_id is not None and addr.peer_id != peer_id:
                        errors.append(f"{addr}: names another peer")
                        continue
                    transport_addr = addr.decapsulate_code("p2p") if addr.peer_id is not None else addr
                    transport = next((t for t in self.transports if t.can_dial(transport_addr)), None)
                    if transport is None:
                        errors.append(f"{addr}: no transport")
                        continue
                    try:
                        conn = await self._dial_one(transport, transport_addr, peer_id)
                    except PeerIdMismatchError as exc:
                        # A security failure: do not try the peer's other addresses.
                        errors.append(f"{addr}: {exc}")
                        raise
                    except (Libp2pError, OSError, EOFError) as exc:
                        errors.append(f"{addr}: {getattr(exc, 'reason', None) or exc}")
                        continue
                    self._add(conn)
                    # The peer's own dial may have won meanwhile (see _add).
                    return self.preferred(peer_id) or conn
        except TimeoutError:
            raise DialError(f"dial to {peer_id} timed out after {self.config.dial_timeout} s ({'; '.join(errors)})") from None
        raise DialError(f"could not dial {peer_id}: {'; '.join(errors) or 'no usable address'}")

    async def adopt(self, raw: RawConnection, peer_id: PeerId) -> Connection:
        """A raw connection made outside ``connection_to`` (a hole punch) joins the table: it is
        upgraded in the role ``raw.is_initiator`` says and must authenticate as ``peer_id``."""
        scope = self._admit(Direction.OUTBOUND, raw.remote_addr)
        try:
            conn = await self.upgrader.upgrade(raw, peer_id, scope)
        except BaseException:
            raw.abort()
            if scope is not None:
                scope.done()
            raise
        if self.closing:
            await conn.close()
            raise DialError("the host is closing")
        self._add(conn)
        return conn

    async def _dial_one(self, transport: Transport | UpgradedTransport, addr: Multiaddr, peer_id: PeerId) -> Connection:
        scope = self._admit(Direction.OUTBOUND, addr, uses_fd=not transport.upgraded)
        try:
            if transport.upgraded:
                upgraded = cast("UpgradedTransport", transport)
                conn = await upgraded.dial(addr, peer_id, self.config.dial_timeout_per_addr)
                conn.scope = scope
                return conn
            raw = await cast("Transport", transport).dial(addr, self.config.dial_timeout_per_addr, peer_id=peer_id)
            try:
                return await self.upgrader.upgrade(raw, peer_id, scope)
            except BaseException:
                raw.abort()
                raise
        except BaseException:
            if scope is not None:
                scope.done()
            raise
