"""The host: listens, dials, keeps one connection per peer, and routes streams to handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from libp2p.abc import Listener, Transport
from libp2p.dns import DNSResolver
from libp2p.errors import DecodeError, Libp2pError, LocalProtocolError, RemoteProtocolError
from libp2p.host.upgrader import MPLEX, NOISE, YAMUX, Upgrader
from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_DNS, P_DNS4, P_DNS6, P_DNSADDR, Multiaddr
from libp2p.muxer.connection import MuxedConnection, MuxedStream, StreamResetError
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import accept_protocol, select_protocol
from libp2p.peerstore import ADDRESS_TTL, CONNECTED_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL, PeerInfo, Peerstore
from libp2p.transport.connection import RawConnection
from libp2p.transport.tcp import DialError, TcpTransport

__all__ = ["Host", "HostConfig", "StreamHandler", "new_host", "NoAddressesError", "AGENT_VERSION"]

log = logging.getLogger("libp2p.host")

AGENT_VERSION = "aiolibp2p/0.1.0"
PROTOCOL_VERSION = "ipfs/0.1.0"

StreamHandler = Callable[[MuxedStream], Awaitable[None]]
ConnectionCallback = Callable[[MuxedConnection], None]

# How long a duplicate connection (simultaneous dial) may stay idle before it is closed.
_DUPLICATE_GRACE = 1.0


class NoAddressesError(DialError):
    """No known address for the peer."""


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Timeouts and limits, with go-libp2p's defaults where it has one."""

    dial_timeout: float = 10.0  # a whole dial: every address tried, upgrade included
    dial_timeout_per_addr: float = 5.0  # TCP connect to one address
    upgrade_timeout: float = 15.0  # multistream + Noise + muxer negotiation
    negotiate_timeout: float = 10.0  # per-stream protocol negotiation
    max_pending_inbound: int = 64  # inbound connections in their handshake at once
    max_inbound_streams: int = 1024  # per connection (beyond the muxer's own limit)
    # Single-protocol streams are selected optimistically ("lazy" multistream), as go does.
    optimistic_negotiation: bool = True
    agent_version: str = AGENT_VERSION
    protocol_version: str = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class _Notifee:
    connected: ConnectionCallback | None
    disconnected: ConnectionCallback | None


class Host:
    """A libp2p node. Use ``async with new_host(...) as host``."""

    def __init__(
        self,
        key: PrivateKey,
        *,
        listen_addrs: Sequence[Multiaddr | str] = (),
        muxers: Sequence[str] = (YAMUX, MPLEX),
        security: Sequence[str] = (NOISE,),
        transports: Sequence[Transport] | None = None,
        resolver: DNSResolver | None = None,
        config: HostConfig | None = None,
        enable_identify: bool = True,
        enable_ping: bool = True,
        enable_echo: bool = False,
        enable_perf: bool = False,
    ) -> None:
        self.key = key
        self.peer_id = PeerId.from_public_key(key.public_key)
        self.config = config or HostConfig()
        self.peerstore = Peerstore()
        self.peerstore.add_public_key(self.peer_id, key.public_key)
        self.upgrader = Upgrader(key, muxers=muxers, security=security, timeout=self.config.upgrade_timeout)
        self.transports: list[Transport] = list(transports) if transports is not None else [TcpTransport()]
        self.resolver = resolver or DNSResolver()
        self._listen_addrs = [a if isinstance(a, Multiaddr) else Multiaddr(a) for a in listen_addrs]
        self._listeners: list[Listener] = []
        self._handlers: dict[str, StreamHandler] = {}
        self._connections: dict[PeerId, list[MuxedConnection]] = {}
        self._pending_dials: dict[PeerId, asyncio.Future[MuxedConnection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._notifees: list[_Notifee] = []
        self._pending_inbound = 0  # inbound connections in their upgrade (max_pending_inbound)
        self._started = False
        self._closing = False
        self.identify: Any = None
        self.ping_service: Any = None
        self._services: list[Any] = []
        if enable_identify:
            from libp2p.protocols.identify.service import IdentifyService

            self.identify = IdentifyService(self)
            self._services.append(self.identify)
        if enable_ping:
            from libp2p.protocols.ping.service import PingService

            self.ping_service = PingService(self)
            self._services.append(self.ping_service)
        if enable_echo:
            from libp2p.protocols.echo import EchoService

            self._services.append(EchoService(self))
        if enable_perf:
            from libp2p.protocols.perf.service import PerfService

            self._services.append(PerfService(self))

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            for addr in self._listen_addrs:
                await self.listen(addr)
        except BaseException:
            await self.close()
            raise

    async def listen(self, addr: Multiaddr | str) -> list[Multiaddr]:
        """Listen on one more address; returns the bound addresses (``/tcp/0`` gets its port)."""
        ma = addr if isinstance(addr, Multiaddr) else Multiaddr(addr)
        for transport in self.transports:
            if transport.can_listen(ma):
                listener = await transport.listen(ma, self._on_inbound)
                self._listeners.append(listener)
                if self.identify is not None:
                    self.identify.addrs_changed()
                return list(listener.addrs)
        raise LocalProtocolError(f"no transport can listen on {ma}")

    async def close(self) -> None:
        """Stop listening, close every connection gracefully, and end handler tasks."""
        if self._closing:
            return
        self._closing = True  # from here, new inbound connections are closed on arrival
        for pending in self._pending_dials.values():
            pending.cancel()
        conns = [c for cs in self._connections.values() for c in cs]
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Listeners last: since Python 3.12, Server.wait_closed() waits for every connection it
        # accepted, so they must be gone first.
        listeners, self._listeners = self._listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners), return_exceptions=True)

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("task %s failed: %r", task.get_name(), task.exception())

    # --- addresses -------------------------------------------------------------------------------

    @property
    def addrs(self) -> list[Multiaddr]:
        """The addresses we listen on (with bound ports)."""
        return [a for listener in self._listeners for a in listener.addrs]

    def full_addrs(self) -> list[Multiaddr]:
        """Listen addresses with ``/p2p/<our id>`` appended: what to give a dialer."""
        suffix = Multiaddr(f"/p2p/{self.peer_id}")
        return [a.encapsulate(suffix) for a in self.addrs]

    # --- handlers --------------------------------------------------------------------------------

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        self._handlers[protocol] = handler
        if self.identify is not None:
            self.identify.protocols_changed()

    def remove_stream_handler(self, protocol: str) -> None:
        if self._handlers.pop(protocol, None) is not None and self.identify is not None:
            self.identify.protocols_changed()

    @property
    def protocols(self) -> list[str]:
        return list(self._handlers)

    # --- notifications ---------------------------------------------------------------------------

    def add_notifee(
        self,
        connected: ConnectionCallback | None = None,
        disconnected: ConnectionCallback | None = None,
    ) -> Callable[[], None]:
        """Call ``connected``/``disconnected`` for every connection opened/closed; returns a remover."""
        notifee = _Notifee(connected, disconnected)
        self._notifees.append(notifee)
        return lambda: self._notifees.remove(notifee) if notifee in self._notifees else None

    def _notify(self, conn: MuxedConnection, connected: bool) -> None:
        for notifee in list(self._notifees):
            callback = notifee.connected if connected else notifee.disconnected
            if callback is not None:
                try:
                    callback(conn)
                except Exception:  # noqa: BLE001 - a listener's bug must not break the host
                    log.exception("connection notifee failed")

    # --- connections -----------------------------------------------------------------------------

    def connections(self, peer_id: PeerId | None = None) -> list[MuxedConnection]:
        if peer_id is not None:
            return list(self._connections.get(peer_id, ()))
        return [c for cs in self._connections.values() for c in cs]

    def connected_peers(self) -> list[PeerId]:
        return [p for p, cs in self._connections.items() if cs]

    def _preferred(self, peer_id: PeerId) -> MuxedConnection | None:
        conns = [c for c in self._connections.get(peer_id, ()) if not c.is_closed]
        if not conns:
            return None
        # Both ends agree on which of two simultaneous connections to keep: the one whose
        # dialer has the smaller peer ID.
        def rank(c: MuxedConnection) -> tuple[bool, float]:
            dialer = self.peer_id if c.is_initiator else c.remote_peer_id
            other = c.remote_peer_id if c.is_initiator else self.peer_id
            return (not bytes(dialer) < bytes(other), c.opened_at)

        return min(conns, key=rank)

    def _add_connection(self, result_conn: MuxedConnection) -> None:
        peer = result_conn.remote_peer_id
        conns = self._connections.setdefault(peer, [])
        conns.append(result_conn)
        if result_conn.remote_addr is not None:
            self.peerstore.add_addrs(peer, [result_conn.remote_addr] if result_conn.is_initiator else [], CONNECTED_ADDR_TTL)
        self.peerstore.add_public_key(peer, result_conn.secure.remote_public_key)
        if len(conns) > 1:
            self._spawn(self._prune_duplicates(peer), f"prune {peer}")
        self._notify(result_conn, True)
        for service in self._services:
            hook = getattr(service, "connected", None)
            if hook is not None:
                hook(result_conn)

    async def _prune_duplicates(self, peer: PeerId) -> None:
        await asyncio.sleep(_DUPLICATE_GRACE)
        keep = self._preferred(peer)
        for conn in self.connections(peer):
            if conn is not keep and not conn.streams:
                log.debug("closing duplicate connection %r", conn)
                await conn.close()

    def _connection_closed(self, conn: MuxedConnection) -> None:
        conns = self._connections.get(conn.remote_peer_id)
        if conns is not None and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._connections[conn.remote_peer_id]
                self.peerstore.update_addrs(conn.remote_peer_id, CONNECTED_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL)
            self._notify(conn, False)

    def _make_connection(self, raw: RawConnection, result: Any) -> MuxedConnection:
        conn = MuxedConnection(
            raw,
            result.secure,
            result.session,
            muxer_id=result.muxer_id,
            local_peer_id=self.peer_id,
            on_stream=self._on_stream,
            on_closed=self._connection_closed,
        )
        return conn

    # --- inbound ---------------------------------------------------------------------------------

    def _on_inbound(self, raw: RawConnection) -> None:
        if self._closing:
            raw.close()
            return
        # Counted here, as the connection arrives: a task's first step may run only after many
        # more connections were accepted in the same loop iteration.
        if self._pending_inbound >= self.config.max_pending_inbound:
            log.warning("too many inbound handshakes in progress; dropping %s", raw.remote_addr)
            raw.abort()
            return
        self._pending_inbound += 1
        self._spawn(self._handle_inbound(raw), f"inbound {raw.remote_addr}")

    async def _handle_inbound(self, raw: RawConnection) -> None:
        try:
            result = await self.upgrader.upgrade(raw)
        except (Libp2pError, OSError, EOFError) as exc:
            log.warning("inbound upgrade from %s failed: %s: %s", raw.remote_addr, type(exc).__name__, exc)
            raw.abort()
            return
        except BaseException as exc:
            # Cancelled (the host is closing) or a bug: never leave the socket open.
            if not isinstance(exc, asyncio.CancelledError):
                log.error("inbound upgrade from %s failed unexpectedly", raw.remote_addr, exc_info=exc)
            raw.abort()
            raise
        finally:
            self._pending_inbound -= 1
        if self._closing:
            raw.close()
            return
        conn = self._make_connection(raw, result)
        self._add_connection(conn)
        conn.start(result.leftover)

    def _on_stream(self, stream: MuxedStream) -> None:
        inbound = sum(1 for s in stream.conn.streams if not s.outbound)
        if inbound > self.config.max_inbound_streams:
            log.warning("peer %s exceeded %d inbound streams; resetting", stream.remote_peer_id, self.config.max_inbound_streams)
            self._spawn(stream.reset(), "reset")
            return
        self._spawn(self._handle_stream(stream), f"stream {stream.stream_id} from {stream.remote_peer_id}")

    async def _handle_stream(self, stream: MuxedStream) -> None:
        try:
            protocol = await accept_protocol(
                stream.read, stream.write, stream.unread, self._handlers.__contains__,
                timeout=self.config.negotiate_timeout, listed=list(self._handlers),
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

    async def connect(self, peer: Multiaddr | str | PeerInfo) -> PeerId:
        """Connect to a peer given ``/…/p2p/<id>`` or a ``PeerInfo``; reuses an open connection."""
        info = peer if isinstance(peer, PeerInfo) else PeerInfo.from_multiaddr(peer)
        if info.addrs:
            self.peerstore.add_addrs(info.peer_id, info.addrs, ADDRESS_TTL)
        await self._connection_to(info.peer_id, info.addrs)
        return info.peer_id

    async def _connection_to(self, peer_id: PeerId, addrs: Iterable[Multiaddr] = ()) -> MuxedConnection:
        if peer_id == self.peer_id:
            raise LocalProtocolError("cannot dial ourselves")
        existing = self._preferred(peer_id)
        if existing is not None:
            return existing
        pending = self._pending_dials.get(peer_id)
        if pending is None:
            pending = asyncio.ensure_future(self._dial(peer_id, list(addrs)))
            self._pending_dials[peer_id] = pending
            pending.add_done_callback(lambda _: self._pending_dials.pop(peer_id, None))
        return await asyncio.shield(pending)

    async def _resolve(self, addrs: list[Multiaddr]) -> list[Multiaddr]:
        out: list[Multiaddr] = []
        dns_codes = {P_DNS, P_DNS4, P_DNS6, P_DNSADDR}
        for addr in addrs:
            if any(c.protocol.code in dns_codes for c in addr.components()):
                try:
                    out.extend(await self.resolver.resolve(addr))
                except Libp2pError as exc:
                    log.debug("could not resolve %s: %s", addr, exc)
            else:
                out.append(addr)
        return out

    async def _dial(self, peer_id: PeerId, addrs: list[Multiaddr]) -> MuxedConnection:
        candidates = addrs or self.peerstore.addrs(peer_id)
        if not candidates:
            raise NoAddressesError(f"no addresses known for {peer_id}")
        errors: list[str] = []
        try:
            async with asyncio.timeout(self.config.dial_timeout):
                resolved = await self._resolve(candidates)
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
                        raw = await transport.dial(transport_addr, self.config.dial_timeout_per_addr)
                    except (Libp2pError, OSError) as exc:
                        errors.append(f"{addr}: {exc}")
                        continue
                    try:
                        result = await self.upgrader.upgrade(raw, peer_id)
                    except BaseException as exc:
                        raw.abort()
                        if isinstance(exc, (Libp2pError, OSError, EOFError)):
                            errors.append(f"{addr}: {exc}")
                            # A peer-ID mismatch is a security failure: do not try other addresses.
                            if type(exc).__name__ == "PeerIdMismatchError":
                                raise
                            continue
                        raise
                    conn = self._make_connection(raw, result)
                    self._add_connection(conn)
                    conn.start(result.leftover)
                    return conn
        except TimeoutError:
            raise DialError(f"dial to {peer_id} timed out after {self.config.dial_timeout} s ({'; '.join(errors)})") from None
        raise DialError(f"could not dial {peer_id}: {'; '.join(errors) or 'no usable address'}")

    async def new_stream(self, peer_id: PeerId, protocols: Sequence[str] | str) -> MuxedStream:
        """Open a stream to ``peer_id`` speaking the first of ``protocols`` it supports."""
        if isinstance(protocols, str):
            protocols = [protocols]
        conn = await self._connection_to(peer_id)
        stream = conn.open_stream()
        if len(protocols) == 1 and self.config.optimistic_negotiation:
            # As go-libp2p's lazy client: propose and return; the answer is checked on first read,
            # so the first write shares the proposal's flight and saves a round trip.
            dialer = MultistreamDialer(protocols, optimistic=True)
            try:
                await stream.write(dialer.data_to_send())
            except BaseException:
                await stream.reset()
                raise
            stream.protocol = protocols[0]
            stream._expect_negotiation(dialer)
            return stream
        try:
            stream.protocol = await select_protocol(
                stream.read, stream.write, stream.unread, protocols, timeout=self.config.negotiate_timeout
            )
        except BaseException:
            await stream.reset()
            raise
        return stream

    async def disconnect(self, peer_id: PeerId) -> None:
        """Close every connection to ``peer_id``."""
        for conn in self.connections(peer_id):
            await conn.close()


def new_host(
    key: PrivateKey | None = None,
    listen_addrs: Sequence[Multiaddr | str] = (),
    muxers: Sequence[str] = (YAMUX, MPLEX),
    security: Sequence[str] = (NOISE,),
    **options: Any,
) -> Host:
    """A host with a fresh Ed25519 identity unless ``key`` is given. Use it with ``async with``."""
    return Host(
        key if key is not None else generate_key_pair(),
        listen_addrs=listen_addrs,
        muxers=muxers,
        security=security,
        **options,
    )
