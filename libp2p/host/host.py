"""The host: a node's identity, its stream handlers and services, and its public API.

Connections, dialing and admission live in the swarm (``libp2p.host.swarm``); the host routes
inbound streams to handlers after protocol negotiation, opens outbound streams, runs the
services it was given, and reports what happens on one typed event stream (``host.events``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from libp2p.dns import DNSResolver
from libp2p.driver import TaskSet
from libp2p._version import __version__
from libp2p.errors import ArgumentTypeError, DecodeError, Libp2pError, LocalProtocolError, RemoteProtocolError
from libp2p.host.addrmanager import AddressManager, AddrManagerConfig
from libp2p.host.connmgr import ConnectionManager, ConnManagerConfig
from libp2p.host.events import (
    ConnectionClosed,
    ConnectionOpened,
    EventBus,
    LocalAddressesUpdated,
    LocalProtocolsUpdated,
    LocalReachabilityChanged,
    PeerConnected,
    PeerDisconnected,
    Reachability,
)
from libp2p.host.pstoremanager import PeerstoreManager
from libp2p.host.swarm import NoAddressesError, Swarm
from libp2p.host.upgrader import MPLEX, NOISE, YAMUX, Upgrader
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import StreamResetError
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import NegotiationTimeoutError, accept_buffered, accept_protocol, select_protocol
from libp2p.peerstore import ADDRESS_TTL, CONNECTED_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL, PeerInfo, Peerstore
from libp2p.resources import ResourceLimitExceededError, ResourceLimits, ResourceManager
from libp2p.transport.tcp import TcpTransport
from libp2p.transport.websocket import WebsocketTransport

if TYPE_CHECKING:
    from libp2p.abc import Connection, MuxerOption, SecurityOption, Stream, Transport, UpgradedTransport
    from libp2p.host.service import Service
    from libp2p.identity.keys import PrivateKey
    from libp2p.transport.connection import RawConnection

# Negotiation reads at most this much of a new inbound stream (the header and a proposal fit):
# what follows stays in the stream's buffer, reserved and unacknowledged (no window update for it),
# instead of being taken whole and put back.
_NEGOTIATION_READ = 1024

__all__ = ["Host", "HostConfig", "PeerRouting", "StreamHandler", "NoAddressesError", "LimitedConnectionError",
           "is_limited", "AGENT_VERSION"]

log = logging.getLogger("libp2p.host")

AGENT_VERSION = f"aiolibp2p/{__version__}"
PROTOCOL_VERSION = "ipfs/0.1.0"

StreamHandler = Callable[[Any], Awaitable[None]]

S = TypeVar("S", bound="Service")


class LimitedConnectionError(LocalProtocolError):
    """The only connection to the peer is limited (relayed with limits) and the protocol did not
    opt in to running on one (``allow_limited=True``), as go's ``ErrLimitedConn``."""


def is_limited(conn: Connection) -> bool:
    """Whether ``conn`` is limited (a relayed connection with limits; transports that cannot
    make one do not carry the flag)."""
    return bool(getattr(conn, "limited", False))


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Timeouts and limits, with go-libp2p's defaults where it has one."""

    dial_timeout: float = 10.0  # a whole dial: every address tried, upgrade included
    dial_timeout_per_addr: float = 5.0  # TCP connect to one address
    upgrade_timeout: float = 15.0  # multistream + Noise + muxer negotiation
    negotiate_timeout: float = 10.0  # per-stream protocol negotiation
    # Inbound connections in their handshake at once; beyond it the idlest one is dropped.
    max_pending_inbound: int = 64
    # Single-protocol streams are selected optimistically ("lazy" multistream), as go does.
    optimistic_negotiation: bool = True
    agent_version: str = AGENT_VERSION
    protocol_version: str = PROTOCOL_VERSION
    # A peer disconnected this long loses its key, protocols and agent in the peerstore (go: 1 min).
    forget_peers_after: float = 60.0
    # Distinct observers (identify's observedAddr) that confirm an external address (go: 4).
    observed_addr_activation: int = 4
    # Finding a peer's addresses through a routing service (the DHT) before a dial.
    routing_timeout: float = 30.0


class PeerRouting(Protocol):
    """What finds a peer's addresses when the host knows none (``KadDHT`` registers itself)."""

    async def find_peer(self, peer_id: PeerId) -> PeerInfo | None:
        """The peer's addresses, or None when it cannot be found."""
        ...


# Set while the host asks a router: a router's own dials must not start another lookup.
_routing: contextvars.ContextVar[bool] = contextvars.ContextVar("libp2p_routing", default=False)


def _check_handler(protocol: str, handler: object) -> None:
    """Refuse a stream handler that cannot be awaited, at registration rather than per stream."""
    if not callable(handler):
        raise ArgumentTypeError(f"the handler for {protocol} is not callable: {handler!r}")
    call = getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call):
        return
    # A lambda cannot be async: one that returns an awaitable (``lambda s: serve(s, x)``) is fine.
    if getattr(handler, "__name__", None) == "<lambda>":
        return
    raise ArgumentTypeError(
        f"the handler for {protocol} must be an async function (async def), not {handler!r}"
    )


class Host:
    """A libp2p node. Use ``async with new_host(...) as host`` (``libp2p.new_host``)."""

    def __init__(
        self,
        key: PrivateKey,
        *,
        listen_addrs: Sequence[Multiaddr | str] | Multiaddr | str = (),
        muxers: Sequence[MuxerOption | str] = (YAMUX, MPLEX),
        security: Sequence[SecurityOption | str] = (NOISE,),
        transports: Sequence[Transport | UpgradedTransport] | None = None,
        services: Iterable[Service] = (),
        resolver: DNSResolver | None = None,
        config: HostConfig | None = None,
        resource_limits: ResourceLimits | None = None,
        resource_manager: ResourceManager | None = None,
        connection_manager: ConnectionManager | ConnManagerConfig | None = None,
    ) -> None:
        self.key = key
        self.peer_id = PeerId.from_public_key(key.public_key)
        self.config = config or HostConfig()
        self.peerstore = Peerstore()
        self.peerstore.add_public_key(self.peer_id, key.public_key)
        #: forgets departed peers (``HostConfig.forget_peers_after``)
        self.peerstore_manager = PeerstoreManager(
            self.peerstore, lambda peer: bool(self.swarm.connections(peer)), self.config.forget_peers_after
        )
        #: the host's event stream (``subscribe`` a callback, or ``async for`` over ``stream()``)
        self.events = EventBus()
        self._reachability = Reachability.UNKNOWN
        self.events.subscribe(LocalReachabilityChanged, lambda e: setattr(self, "_reachability", e.reachability))
        #: listen addresses expanded to interfaces, and external addresses peers observe
        self.addr_manager = AddressManager(AddrManagerConfig(activation_threshold=self.config.observed_addr_activation))
        #: admits connections and streams; ``resources.refusals`` counts what it refused
        self.resources = resource_manager or ResourceManager(resource_limits)
        self.connmgr = (
            connection_manager
            if isinstance(connection_manager, ConnectionManager)
            else ConnectionManager(connection_manager)
        )
        self.upgrader = Upgrader(key, muxers=muxers, security=security, timeout=self.config.upgrade_timeout)
        transports = list(transports) if transports is not None else [TcpTransport(), WebsocketTransport()]
        for transport in transports:
            if transport.upgraded:
                transport.bind(key)  # type: ignore[union-attr]
        self.swarm = Swarm(
            self.peer_id,
            config=self.config,
            transports=transports,
            upgrader=self.upgrader,
            peerstore=self.peerstore,
            resolver=resolver or DNSResolver(),
            resources=self.resources,
            connmgr=self.connmgr,
            spawn=self.spawn,
            on_connection=self._connection_opened,
            on_connection_closed=self._connection_closed,
            on_stream=self._on_stream,
        )
        self.connmgr.bind(self._close_connection, self.spawn)
        if isinstance(listen_addrs, (str, Multiaddr)):  # one address, not a sequence of characters
            listen_addrs = [listen_addrs]
        self._listen_addrs = [a if isinstance(a, Multiaddr) else Multiaddr(a) for a in listen_addrs]
        self._handlers: dict[str, StreamHandler] = {}
        # Protocols that opted in to running on limited connections.
        self._limited_ok: set[str] = set()
        self._tasks = TaskSet("host")
        self._services: dict[str, Service] = {}
        self._started_services: list[Service] = []
        self._peer_routers: list[PeerRouting] = []
        for service in services:
            self._register(service)
        self._started = False
        self._ready = asyncio.Event()
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the services (in the order given), then listen."""
        if self._started:
            return
        self._started = True
        self.spawn(self.peerstore_manager.run(), "peerstore manager")
        try:
            for service in list(self._services.values()):
                await self._start_service(service)
            for addr in self._listen_addrs:
                await self.listen(addr)
            # What starting scheduled (identify's signed answer, the first step of the host's tasks)
            # runs now, as part of start, not in the loop passes of the first connection.
            await asyncio.sleep(0)
        except BaseException:
            await self.close()
            raise
        self._ready.set()

    async def wait_started(self) -> None:
        """Until ``start`` finished: services started and every listen address bound (a service's
        task that dials waits for it, so TCP port reuse can dial from the listen port)."""
        await self._ready.wait()

    async def listen(self, addr: Multiaddr | str) -> list[Multiaddr]:
        """Listen on one more address; returns the bound addresses (``/tcp/0`` gets its port)."""
        ma = addr if isinstance(addr, Multiaddr) else Multiaddr(addr)
        bound = await self.swarm.listen(ma)
        self.addr_manager.refresh_interfaces()
        self.events.emit(LocalAddressesUpdated(tuple(self.addrs)))
        return bound

    async def close(self) -> None:
        """Stop the services, close every connection gracefully, end tasks, stop listening."""
        if self._closing:
            return
        self._closing = True
        self.swarm.closing = True
        for service in reversed(self._started_services):
            try:
                await service.stop()
            except Exception:  # noqa: BLE001 - one service's failure must not stop the rest
                log.exception("service %s failed to stop", service.name)
        self._started_services.clear()
        self.connmgr.close()
        await self.swarm.close()
        await self._tasks.cancel()
        await self.swarm.close_listeners()
        self.events.close()

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that the host cancels when it closes (for services too)."""
        return self._tasks.spawn(coro, name)

    # --- services -------------------------------------------------------------------------------

    def _register(self, service: Service) -> None:
        name = service.name or type(service).__name__
        if name in self._services:
            raise LocalProtocolError(f"a service named {name!r} is already on this host")
        self._services[name] = service

    async def _start_service(self, service: Service) -> None:
        await service.start(self)
        self._started_services.append(service)

    async def add_service(self, service: Service) -> Service:
        """Add a service to a running host (or before ``start``); returns it."""
        self._register(service)
        if self._started and not self._closing:
            await self._start_service(service)
        return service

    async def remove_service(self, service: Service) -> None:
        """Stop a service and drop it and its stream handlers."""
        name = service.name or type(service).__name__
        if self._services.get(name) is not service:
            return
        del self._services[name]
        if service in self._started_services:
            self._started_services.remove(service)
            await service.stop()
        for protocol in service.protocols:
            self.remove_stream_handler(protocol)

    @property
    def services(self) -> Mapping[str, Service]:
        """The host's services by name: ``host.services["identify"]``."""
        return MappingProxyType(self._services)

    def service(self, kind: type[S]) -> S | None:
        """The host's service of class ``kind`` (or a subclass), if any."""
        for service in self._services.values():
            if isinstance(service, kind):
                return service
        return None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def addrs(self) -> list[Multiaddr]:
        """The addresses we announce: where we listen (bound ports; ``0.0.0.0``/``::`` expanded to
        the interface addresses), then external addresses our peers confirmed (identify)."""
        return self.addr_manager.announced(self.swarm.addrs)

    @property
    def reachability(self) -> Reachability:
        """Whether others can dial us, as AutoNAT last concluded (UNKNOWN without it)."""
        return self._reachability

    @property
    def listen_addrs(self) -> list[Multiaddr]:
        """The addresses our listeners are bound to, as bound (``0.0.0.0`` stays)."""
        return self.swarm.addrs

    def record_observed_addr(self, conn: Connection, observed: Multiaddr) -> None:
        """A peer says it sees us at ``observed`` on ``conn`` (identify); when that changes what we
        announce, ``LocalAddressesUpdated`` is emitted."""
        manager = self.addr_manager
        confirmed = manager.observed()
        if manager.record(conn, local=conn.local_addr, observer=conn.remote_addr, observed=observed, bound=self.swarm.addrs):
            self._announce_if_changed(confirmed)

    def _announce_if_changed(self, confirmed_before: list[Multiaddr]) -> None:
        """Emit ``LocalAddressesUpdated`` if an observation changed the confirmed addresses (the
        listen addresses are left alone: nothing is expanded per identify or per closed connection)."""
        confirmed = self.addr_manager.observed()
        if confirmed == confirmed_before:
            return
        listen = self.addr_manager.listen_addrs(self.swarm.addrs)
        seen = set(listen)
        before = listen + [a for a in confirmed_before if a not in seen]
        after = listen + [a for a in confirmed if a not in seen]
        if after != before:
            self.events.emit(LocalAddressesUpdated(tuple(after), tuple(a for a in before if a not in after)))

    def full_addrs(self) -> list[Multiaddr]:
        """Listen addresses with ``/p2p/<our id>`` appended: what to give a dialer."""
        suffix = Multiaddr(f"/p2p/{self.peer_id}")
        return [a.encapsulate(suffix) for a in self.addrs]

    @property
    def transports(self) -> list[Transport | UpgradedTransport]:
        """The transports this host dials and listens with."""
        return self.swarm.transports

    def add_transport(self, transport: Transport | UpgradedTransport) -> None:
        """One more transport (a service bringing its own, as the relay client's circuit one)."""
        if transport.upgraded:
            transport.bind(self.key)  # type: ignore[union-attr]
        self.swarm.transports.append(transport)

    def can_dial(self, addr: Multiaddr) -> bool:
        """Whether one of our transports dials ``addr``."""
        return self.swarm.can_dial(addr)

    # --- handlers --------------------------------------------------------------------------------

    def set_stream_handler(self, protocol: str, handler: StreamHandler, *, allow_limited: bool = False) -> None:
        """Serve ``protocol``: each inbound stream that negotiates it runs ``await handler(stream)``.

        ``handler`` is an ``async def`` function (or a lambda returning an awaitable); the stream
        is closed when it returns and reset if it raises. Replaces an earlier handler for the same
        protocol. A plain (non-async) function is refused here with ``ArgumentTypeError``.
        ``allow_limited``: also on limited (relayed) connections.
        """
        _check_handler(protocol, handler)
        new = protocol not in self._handlers
        self._handlers[protocol] = handler
        if allow_limited:
            self._limited_ok.add(protocol)
        else:
            self._limited_ok.discard(protocol)
        if new:
            self.events.emit(LocalProtocolsUpdated(frozenset((protocol,)), frozenset()))

    def remove_stream_handler(self, protocol: str) -> None:
        """Stop serving ``protocol`` (streams already running go on)."""
        self._limited_ok.discard(protocol)
        if self._handlers.pop(protocol, None) is not None:
            self.events.emit(LocalProtocolsUpdated(frozenset(), frozenset((protocol,))))

    @property
    def protocols(self) -> list[str]:
        """The protocols this host serves (those with a stream handler)."""
        return list(self._handlers)

    # --- connections -----------------------------------------------------------------------------

    def connections(self, peer_id: PeerId | None = None) -> list[Connection]:
        """Our open connections: to ``peer_id``, or to every peer when it is ``None``."""
        return self.swarm.connections(peer_id)

    def connected_peers(self) -> list[PeerId]:
        """The peers we have at least one open connection to."""
        return self.swarm.connected_peers()

    def _connection_opened(self, conn: Connection, first: bool) -> None:
        # first: the peer's only connection in the swarm's table now
        peer = conn.remote_peer_id
        if conn.is_initiator and conn.remote_addr is not None:  # (a listener learns no dialable address)
            self.peerstore.add_addrs(peer, [conn.remote_addr], CONNECTED_ADDR_TTL)
        self.peerstore.add_public_key(peer, conn.remote_public_key)
        events = self.events
        events.emit(ConnectionOpened(conn))
        if first:
            self.peerstore_manager.connected(peer)
            # Built only for subscribers: under connection churn most hosts have none.
            if events.wants(PeerConnected):
                events.emit(PeerConnected(peer))

    def _connection_closed(self, conn: Connection, last: bool) -> None:
        # last: the peer has no other connection in the swarm's table
        peer = conn.remote_peer_id
        if self.addr_manager.observes(conn):  # nothing to compare for a connection that observed nothing
            confirmed = self.addr_manager.observed()
            self.addr_manager.remove(conn)
            self._announce_if_changed(confirmed)
        events = self.events
        events.emit(ConnectionClosed(conn))
        if last:
            self.peerstore.update_addrs(peer, CONNECTED_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL)
            self.peerstore_manager.disconnected(peer)
            if events.wants(PeerDisconnected):
                events.emit(PeerDisconnected(peer))

    async def _close_connection(self, conn: Connection) -> None:
        await conn.close()

    # --- inbound streams -------------------------------------------------------------------------

    def _on_stream(self, stream: Stream) -> None:
        # One shared name: a per-stream string would cost every idle stream ~100 bytes.
        self.spawn(self._handle_stream(stream), "inbound stream")

    async def _handle_stream(self, stream: Stream) -> None:
        served: Callable[[str], bool] = self._handlers.__contains__
        if is_limited(stream.conn):
            served = self._limited_ok.__contains__  # others are refused in the negotiation
        ready = getattr(stream, "io_ready", None)
        read_nowait = getattr(stream, "read_nowait", None)  # (muxed streams have both)
        listed = lambda: [p for p in self._handlers if served(p)]  # noqa: E731 - asked only on ``ls``
        try:
            # The usual case first: the dialer's proposal came with the stream's opening, and is
            # answered with no coroutine (the answer leaves with the handler's first write, or at
            # the end of the loop turn).
            settled = accept_buffered(
                read_nowait, stream.write_nowait, stream.unread, served, limit=_NEGOTIATION_READ, listed=listed,
            ) if ready is not None and read_nowait is not None and ready() else None
            if settled is not None:
                protocol, unsent = settled
                if unsent:
                    await stream.write(unsent)
            else:
                protocol = await accept_protocol(
                    functools.partial(stream.read, _NEGOTIATION_READ), stream.write_soon,
                    stream.unread, served,
                    timeout=self.config.negotiate_timeout, listed=listed, ready=ready,
                )
        except (Libp2pError, OSError, EOFError) as exc:
            # Malformed or out-of-protocol messages are the peer's fault (WARNING); a stream reset
            # or closed, or a timeout, is not.
            level = logging.WARNING if isinstance(exc, (RemoteProtocolError, DecodeError)) else logging.DEBUG
            log.log(level, "stream negotiation with %s failed, resetting the stream: %s: %s",
                    stream.remote_peer_id, type(exc).__name__, exc)
            await stream.reset()
            return
        stream.protocol = protocol
        handler = self._handlers.get(protocol)
        if handler is None:
            await stream.reset()
            return
        if stream.scope is not None:
            try:
                stream.scope.set_protocol(protocol)
            except ResourceLimitExceededError:
                await stream.reset()
                return
        try:
            await handler(stream)
        except asyncio.CancelledError:
            await stream.reset()
            raise
        except Exception as exc:  # noqa: BLE001 - one handler's failure must not reach the host
            # A reset or a closed connection is the remote's choice, not a fault of the handler.
            level = logging.DEBUG if isinstance(exc, (StreamResetError, ConnectionError)) else logging.WARNING
            log.log(level, "handler for %s failed: %r", protocol, exc)
            await stream.reset()
            return
        await stream.close()

    # --- outbound --------------------------------------------------------------------------------

    async def connect(self, peer: Multiaddr | str | PeerInfo | PeerId) -> PeerId:
        """Connect to a peer; reuses an open connection. Returns its peer ID.

        ``peer`` is a ``/…/p2p/<id>`` multiaddr (``MissingPeerIdError`` without ``/p2p``: the
        peer ID is what the secure channel verifies), a ``PeerInfo``, or a bare ``PeerId`` whose
        addresses the peerstore or a routing service (``KadDHT``) knows. Raises ``DialError``
        (``NoAddressesError`` when no address is known) if no address could be dialed.
        """
        if isinstance(peer, PeerId):
            await self.connection_to(peer)
            return peer
        info = peer if isinstance(peer, PeerInfo) else PeerInfo.from_multiaddr(peer)
        if info.addrs:
            self.peerstore.add_addrs(info.peer_id, info.addrs, ADDRESS_TTL)
        await self.swarm.connection_to(info.peer_id, info.addrs)
        return info.peer_id

    async def adopt_connection(self, raw: RawConnection, peer_id: PeerId) -> Connection:
        """Upgrade and add a raw connection made outside the host's dialing (DCUtR's simultaneous
        open, where the upgrade role is ``raw.is_initiator`` as the protocol decides, not who
        called connect); it must authenticate as ``peer_id``."""
        return await self.swarm.adopt(raw, peer_id)

    async def connection_to(self, peer_id: PeerId, *, routing: bool = True) -> Connection:
        """Our connection to ``peer_id`` (the preferred one), dialing its known addresses if none.

        With no address in the peerstore, the host's routing services are asked first
        (``add_peer_routing``; a ``KadDHT`` service registers itself), as go's routed host does;
        ``routing=False`` skips that (a router's own requests).
        """
        existing = self.swarm.preferred(peer_id)
        if existing is not None:
            return existing
        if routing and self._peer_routers and not self.peerstore.addrs(peer_id) and not _routing.get():
            await self.find_peer(peer_id)
        return await self.swarm.connection_to(peer_id)

    async def new_stream(
        self, peer_id: PeerId, protocols: Sequence[str] | str, *, routing: bool = True, allow_limited: bool = False
    ) -> Stream:
        """Open a stream to ``peer_id`` speaking the first of ``protocols`` it supports.

        Dials the peer if needed (see ``connection_to``). Raises ``ProtocolNotSupportedError``
        when the peer supports none of them (with one protocol, on the first read instead:
        the proposal travels with the first write). ``allow_limited``: the protocol may run on
        a limited (relayed) connection.
        """
        if isinstance(protocols, str):
            protocols = [protocols]
        conn = await self.connection_to(peer_id, routing=routing)
        return await self.open_stream_on(conn, protocols, allow_limited=allow_limited)

    async def dial_protocol(
        self, peer: Multiaddr | str | PeerInfo | PeerId, protocols: Sequence[str] | str
    ) -> Stream:
        """Connect and open a stream in one call (js-libp2p's ``dialProtocol``)::

            stream = await host.dial_protocol("/ip4/1.2.3.4/tcp/4001/p2p/12D3Koo…", "/my-app/1.0.0")
        """
        return await self.new_stream(await self.connect(peer), protocols)

    async def ping(self, peer: Multiaddr | str | PeerInfo | PeerId, *, timeout: float | None = None) -> float:
        """One ping round trip to ``peer``, in seconds (connecting first if needed).

        Needs the ping service, which ``new_host`` adds by default (``LocalProtocolError`` without).
        """
        service = self._services.get("ping")
        if service is None or not hasattr(service, "ping"):
            raise LocalProtocolError("this host runs no ping service (new_host adds one by default)")
        peer_id = await self.connect(peer)
        options = {} if timeout is None else {"timeout": timeout}
        rtts: list[float] = await service.ping(peer_id, 1, **options)
        return rtts[0]

    # --- peer routing ----------------------------------------------------------------------------

    def add_peer_routing(self, router: PeerRouting) -> None:
        """Ask ``router`` for the addresses of a peer we have none for, before dialing it."""
        if router not in self._peer_routers:
            self._peer_routers.append(router)

    def remove_peer_routing(self, router: PeerRouting) -> None:
        """Stop asking ``router`` (its service is stopping)."""
        if router in self._peer_routers:
            self._peer_routers.remove(router)

    async def find_peer(self, peer_id: PeerId) -> PeerInfo | None:
        """The peer's addresses: from the peerstore, else from the routing services in turn.

        What a router finds is added to the peerstore. None when nobody knows the peer.
        """
        addrs = self.peerstore.addrs(peer_id)
        if addrs:
            return PeerInfo(peer_id, tuple(addrs))
        token = _routing.set(True)
        try:
            async with asyncio.timeout(self.config.routing_timeout):
                for router in list(self._peer_routers):
                    try:
                        info = await router.find_peer(peer_id)
                    except Libp2pError as exc:
                        log.debug("peer routing for %s failed: %s", peer_id, exc)
                        continue
                    if info is not None and info.addrs:
                        self.peerstore.add_addrs(peer_id, info.addrs, ADDRESS_TTL)
                        return PeerInfo(peer_id, tuple(info.addrs))
        except TimeoutError:
            log.debug("peer routing for %s timed out", peer_id)
        finally:
            _routing.reset(token)
        return None

    async def open_stream_on(
        self, conn: Connection, protocols: Sequence[str], *, allow_limited: bool = False
    ) -> Stream:
        """Open a stream on ``conn`` (a connection of ours) and negotiate one of ``protocols``."""
        if is_limited(conn) and not allow_limited:
            raise LimitedConnectionError(f"the connection to {conn.remote_peer_id} is limited (relayed)")
        opening_slot = getattr(conn, "opening_slot", None)  # yamux: wait while 256 opens await their ACK
        # (no timeout scope for the usual case of a free slot: it cost a timer per stream)
        if opening_slot is not None and getattr(conn, "opening_blocked", False):
            try:
                async with asyncio.timeout(self.config.negotiate_timeout):  # the peer may never ACK
                    await opening_slot()
            except TimeoutError:
                raise NegotiationTimeoutError(
                    f"{conn.remote_peer_id} acknowledged none of our opening streams within "
                    f"{self.config.negotiate_timeout} s"
                ) from None
        stream: Stream = conn.open_stream()
        if len(protocols) == 1 and self.config.optimistic_negotiation:
            # As go-libp2p's lazy client: propose and return; the answer is checked on first read,
            # so the first write shares the proposal's flight and saves a round trip.
            dialer = MultistreamDialer(protocols, optimistic=True)
            write = stream.write_soon  # with the SYN and the first write
            try:
                await write(dialer.data_to_send())
                stream.protocol = protocols[0]
                if stream.scope is not None:
                    stream.scope.set_protocol(protocols[0])
            except BaseException:
                await stream.reset()
                raise
            stream.expect_negotiation(dialer)
            return stream
        try:
            stream.protocol = await select_protocol(
                stream.read, stream.write, stream.unread, protocols, timeout=self.config.negotiate_timeout
            )
            if stream.scope is not None:
                stream.scope.set_protocol(stream.protocol)
        except BaseException:
            await stream.reset()
            raise
        return stream

    async def disconnect(self, peer_id: PeerId) -> None:
        """Close every connection to ``peer_id``."""
        for conn in self.connections(peer_id):
            await conn.close()
