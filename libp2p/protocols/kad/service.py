"""The Kademlia DHT as a host service: ``new_host(services=[KadDHT(mode="server"|"client")])``.

Glue between ``KadCore`` and asyncio: one reused stream per remote peer for our requests (as
go-libp2p-kad-dht's message sender, with one retry on a fresh stream when a reused one turns
out dead), a handler answering any number of requests per inbound stream until it has been
idle for a minute, a timer for the core's request timeouts, and the periodic jobs (bucket
refresh every 10 minutes, provider republish every 22 hours, store pruning).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from libp2p.driver import CoreTimer, TaskSet, read_into
from libp2p.errors import DecodeError, Libp2pError, LocalProtocolError, UnexpectedEOFError
from libp2p.host.events import ConnectionClosed, ConnectionOpened
from libp2p.host.service import Service
from libp2p.identity.multiformats import CID
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import P_IP4, P_IP6, Multiaddr
from libp2p.peerstore import TEMP_ADDR_TTL, PeerInfo
from libp2p.protocols.kad.core import KadConfig, KadCore, KadRequestRejected
from libp2p.protocols.kad.events import (
    LookupFinished,
    LookupKind,
    LookupResult,
    PeerCheckRequested,
    RequestIssued,
    RoutingTableUpdated,
)
from libp2p.protocols.kad.records import (
    PROVIDER_ADDR_TTL,
    PROVIDER_REPUBLISH_INTERVAL,
    RecordStore,
    Validator,
)
from libp2p.protocols.identify.events import PeerIdentified
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.kad.wire import (
    PROTOCOL_ID,
    STREAM_IDLE_TIMEOUT,
    KadMessage,
    KadPeer,
    KadProtocolError,
    KadRecord,
    MessageReader,
    MessageType,
    frame_message,
)

if TYPE_CHECKING:
    from libp2p.abc import Connection, Stream
    from libp2p.host.host import Host

__all__ = ["KadDHT", "RecordNotFoundError"]

log = logging.getLogger("libp2p.protocols.kad")

_READ_CHUNK = 64 * 1024
_PRUNE_INTERVAL = 3600.0


class RecordNotFoundError(Libp2pError, LookupError):
    """No valid record for the key was found."""


class _Sender:
    """Our one outbound stream to a peer, used for one request at a time."""

    __slots__ = ("lock", "reader", "stream")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.stream: Stream | None = None
        self.reader = MessageReader()


async def _read_message(stream: Stream, reader: MessageReader) -> KadMessage | None:
    """The next message on ``stream``, or ``None`` at a clean end of stream."""
    got: list[KadMessage] = []

    def have_one() -> bool:
        msg = reader.next_message()
        if msg is not None:
            got.append(msg)
        return bool(got)

    return got[0] if await read_into(stream, reader, have_one, _READ_CHUNK) else None


# The connection manager's value of a routing-table peer (go-libp2p-kad-dht tags "kbucket" with 5).
_TABLE_TAG = "kad"
_TABLE_TAG_VALUE = 5


class KadDHT(Service):
    """A Kademlia DHT node: ``new_host(services=[KadDHT()])`` or ``await host.add_service(KadDHT())``;
    reached as ``host.services["kad"]``."""

    name = "kad"

    def __init__(
        self,
        mode: Literal["server", "client"] = "server",
        *,
        config: KadConfig | None = None,
        validator: Validator | None = None,
        store: RecordStore | None = None,
        protocol_id: str = PROTOCOL_ID,
        allow_private_addrs: bool = True,
        refresh: bool = True,
        republish_interval: float = PROVIDER_REPUBLISH_INTERVAL,
    ) -> None:
        if mode not in ("server", "client"):
            raise LocalProtocolError(f"mode is 'server' or 'client', not {mode!r}")
        super().__init__()
        self.mode = mode
        self.protocol_id = protocol_id
        self.allow_private_addrs = allow_private_addrs
        self.refresh_enabled = refresh
        self.republish_interval = republish_interval
        self._core_options = (config, validator, store)
        self._core: KadCore | None = None
        self.config = config or KadConfig()
        self._lookups: dict[int, asyncio.Future[LookupResult]] = {}
        self._senders: dict[PeerId, _Sender] = {}
        self._provided: dict[bytes, float] = {}
        self._tasks = TaskSet("kad")
        self._timer: CoreTimer | None = None
        self._unsubscribe: list[Any] = []
        self._started = False
        self._closed = False

    @property
    def core(self) -> KadCore:
        """The sans-IO Kademlia core this service drives (for inspection and tests)."""
        if self._core is None:
            raise LocalProtocolError("the DHT is not started on a host")
        return self._core

    @property
    def protocols(self) -> tuple[str, ...]:
        """The DHT protocol id (served only in server mode)."""
        return (self.protocol_id,) if self.mode == "server" else ()

    @property
    def counters(self) -> Any:
        """Request and response counters of the core (a snapshot object)."""
        return self.core.counters

    @property
    def routing_table(self) -> Any:
        """The Kademlia routing table (k-buckets of known DHT servers)."""
        return self.core.routing

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        if self._started:
            return
        await super().start(host)
        self._started = True
        config, validator, store = self._core_options
        self._core = KadCore(
            host.peer_id,
            config=config,
            validator=validator,
            store=store,
            addr_book=self._addrs_of,
            wall_clock=time.time,
        )
        self.config = self._core.config
        if self.mode == "server":
            self.host.set_stream_handler(self.protocol_id, self._handle)
        events = host.events
        self._unsubscribe = [
            events.subscribe(ConnectionOpened, lambda e: self._on_connected(e.connection)),
            events.subscribe(ConnectionClosed, lambda e: self._on_disconnected(e.connection)),
            events.subscribe(PeerIdentified, self._on_identified),
        ]
        for conn in self.host.connections():
            self._on_connected(conn)
        # The host asks us for the addresses of peers it has none for (go's routed host).
        host.add_peer_routing(self)
        if self.refresh_enabled:
            self._spawn(self._refresh_loop(), "kad refresh")
        self._spawn(self._maintenance_loop(), "kad maintenance")

    async def stop(self) -> None:
        if self._closed or not self._started:
            return
        self._closed = True
        self.host.remove_peer_routing(self)
        if self.mode == "server":
            self.host.remove_stream_handler(self.protocol_id)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._timer is not None:
            self._timer.cancel()
        await self._tasks.cancel()
        for fut in self._lookups.values():
            if not fut.done():
                fut.cancel()
        senders, self._senders = self._senders, {}
        for sender in senders.values():
            if sender.stream is not None:
                await sender.stream.reset()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # --- addresses ---------------------------------------------------------------------------------

    def _addrs_of(self, peer: PeerId) -> Sequence[Multiaddr]:
        if peer == self.host.peer_id:
            return self.host.addrs
        return self.host.peerstore.addrs(peer)

    def is_routable(self, addr: Multiaddr, peer: PeerId | None = None) -> bool:
        """Whether an address learned from the DHT is worth keeping: some transport of ours can
        dial it, it names no other peer, and it is not unspecified, multicast or (unless allowed)
        private."""
        try:
            if addr.peer_id is not None:
                if peer is not None and addr.peer_id != peer:
                    return False
                addr = addr.decapsulate_code("p2p")
            comps = addr.components()
        except Libp2pError:
            return False
        if not comps:
            return False
        first = comps[0]
        if first.protocol.code in (P_IP4, P_IP6):
            try:
                ip = ipaddress.ip_address(first.value or "")
            except ValueError:
                return False
            if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
                return False
            if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
                return False
            if not self.allow_private_addrs and (ip.is_private or ip.is_loopback or ip.is_link_local):
                return False
        return any(t.can_dial(addr) for t in self.host.transports)

    def _learn(self, peers: Iterable[KadPeer], ttl: float) -> None:
        store = self.host.peerstore
        for entry in peers:
            if entry.peer_id == self.host.peer_id:
                continue
            good = [a for a in entry.addrs if self.is_routable(a, entry.peer_id)]
            if len(good) != len(entry.addrs):
                self.core.counters["unroutable_addrs"] += len(entry.addrs) - len(good)
            if good:
                store.add_addrs(entry.peer_id, good, ttl)

    # --- who is a DHT server -------------------------------------------------------------------------

    def _on_connected(self, conn: Connection) -> None:
        if self._closed:
            return
        self._spawn(self._check_server(conn.remote_peer_id), f"kad identify {conn.remote_peer_id}")

    def _on_disconnected(self, conn: Connection) -> None:
        peer = conn.remote_peer_id
        sender = self._senders.get(peer)
        if sender is not None and not sender.lock.locked() and not self.host.connections(peer):
            # Its stream died with the connection; the next request opens a new one.
            del self._senders[peer]

    async def _check_server(self, peer: PeerId) -> None:
        identify = self.host.service(IdentifyService)
        if identify is not None:
            try:
                await identify.identify(peer)
            except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
                log.debug("identify of %s failed: %r", peer, exc)
                return
        if self.protocol_id in self.host.peerstore.protocols(peer):
            self.core.add_peer(peer, self._now())
            self._pump()

    def _on_identified(self, event: PeerIdentified) -> None:
        # A push may say a peer became a DHT server, or stopped being one (go-libp2p-kad-dht does
        # the same on protocol updates). First identifications go through _check_server.
        peer, info = event.peer_id, event.info
        if not event.pushed or info.protocols is None or self._closed:
            return
        if self.protocol_id in info.protocols:
            self.core.add_peer(peer, self._now())
        else:
            self.core.remove_peer(peer)
        self._pump()

    # --- driving the core ----------------------------------------------------------------------------

    def _pump(self) -> None:
        core = self.core
        while (event := core.next_event()) is not None:
            if isinstance(event, RequestIssued):
                self._spawn(self._run_request(event), f"kad request {event.peer}")
            elif isinstance(event, LookupFinished):
                fut = self._lookups.pop(event.query_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(event.result)
            elif isinstance(event, PeerCheckRequested):
                self._spawn(self._check_alive(event.peer), f"kad check {event.peer}")
            elif isinstance(event, RoutingTableUpdated):
                log.debug("routing table %s %s", "added" if event.added else "removed", event.peer)
                # Table peers are worth keeping when the connection manager trims.
                if event.added:
                    self.host.connmgr.tag_peer(event.peer, _TABLE_TAG, _TABLE_TAG_VALUE)
                else:
                    self.host.connmgr.untag_peer(event.peer, _TABLE_TAG)
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._closed:
            return
        if self._timer is None:
            self._timer = CoreTimer(self._on_timer)  # on the loop's clock, as _now() is
        self._timer.arm(self.core.get_timer())

    def _on_timer(self) -> None:
        if self._closed:
            return
        self.core.handle_timer(self._now())
        self._pump()

    async def _run_request(self, event: RequestIssued) -> None:
        peer = event.peer
        try:
            response = await self.request(peer, event.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of one peer is that peer's failure
            unreachable = _is_unreachable(exc)
            if isinstance(exc, (DecodeError, KadProtocolError)):
                self.core.counters["bad_messages"] += 1
                log.warning("DHT peer %s answered garbage: %s", peer, exc)
            else:
                log.debug("DHT request to %s failed: %r", peer, exc)
            self.core.on_failure(event.query_id, peer, self._now(), unreachable=unreachable)
        else:
            assert response is not None
            self._learn(response.closer_peers, TEMP_ADDR_TTL)
            self._learn(response.provider_peers, PROVIDER_ADDR_TTL)
            self.core.on_response(event.query_id, peer, response, self._now())
        self._pump()

    async def _check_alive(self, peer: PeerId) -> None:
        try:
            await self.request(peer, KadMessage(MessageType.FIND_NODE, self.host.peer_id.to_bytes()))
            alive = True
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            alive = False
        self.core.check_result(peer, alive, self._now())
        self._pump()

    # --- requests (client side) -----------------------------------------------------------------------

    async def request(self, peer: PeerId, msg: KadMessage, *, timeout: float | None = None) -> KadMessage | None:
        """Send one request over our reused stream to ``peer``; the answer, or ``None`` for
        ``ADD_PROVIDER`` (which has none)."""
        expect = msg.type is not MessageType.ADD_PROVIDER
        timeout = self.config.request_timeout if timeout is None else timeout
        sender = self._senders.get(peer)
        if sender is None:
            sender = self._senders[peer] = _Sender()
        async with sender.lock:
            for attempt in range(2):
                reused = sender.stream is not None
                try:
                    async with asyncio.timeout(timeout):
                        if sender.stream is None:
                            sender.stream = await self.host.new_stream(
                                peer, [self.protocol_id], routing=False
                            )
                            sender.reader = MessageReader()
                        await sender.stream.write(frame_message(msg))
                        if not expect:
                            return None
                        response = await _read_message(sender.stream, sender.reader)
                    if response is None:
                        raise UnexpectedEOFError("the DHT peer closed the stream")
                    if response.type is not msg.type:
                        raise KadProtocolError(f"answered {response.type.name} to {msg.type.name}")
                    return response
                except BaseException as exc:
                    stream, sender.stream = sender.stream, None
                    if stream is not None:
                        await stream.reset()
                    # A reused stream may have been closed by the peer while idle: try once more.
                    if (
                        reused
                        and attempt == 0
                        and isinstance(exc, (EOFError, ConnectionError, Libp2pError))
                        and not isinstance(exc, (DecodeError, KadProtocolError))
                    ):
                        continue
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # --- answering (server side) ------------------------------------------------------------------------

    async def _handle(self, stream: Stream) -> None:
        peer = stream.remote_peer_id
        reader = MessageReader()
        while True:
            try:
                async with asyncio.timeout(STREAM_IDLE_TIMEOUT):
                    msg = await _read_message(stream, reader)
            except TimeoutError:
                await stream.reset()
                return
            except DecodeError as exc:
                self.core.counters["bad_messages"] += 1
                log.warning("malformed DHT message from %s: %s", peer, exc)
                await stream.reset()
                return
            if msg is None:
                return
            try:
                response = self.core.handle_request(peer, msg, self._now())
            except KadRequestRejected as exc:
                log.info("rejected DHT %s from %s: %s", msg.type.name, peer, exc)
                await stream.reset()
                self._pump()
                return
            if msg.type is MessageType.ADD_PROVIDER and response is None:
                self._learn([p for p in msg.provider_peers if p.peer_id == peer], PROVIDER_ADDR_TTL)
            if response is not None:
                await stream.write(frame_message(response))
            self._pump()

    # --- operations -------------------------------------------------------------------------------------

    async def _lookup(self, kind: LookupKind, key: bytes, **options: Any) -> LookupResult:
        if not self._started:
            raise LocalProtocolError("start the DHT first")
        fut: asyncio.Future[LookupResult] = asyncio.get_running_loop().create_future()
        qid = self.core.start_lookup(kind, key, self._now(), **options)
        self._lookups[qid] = fut
        self._pump()
        try:
            return await fut
        except asyncio.CancelledError:
            self.core.cancel_lookup(qid, self._now())
            self._lookups.pop(qid, None)
            self._pump()
            raise

    async def bootstrap(self, peers: Iterable[Multiaddr | str | PeerInfo] = ()) -> int:
        """Connect to ``peers`` (trusted to be DHT servers), then refresh the routing table
        (a lookup of our own ID, then of a random key per stale bucket). Returns its size."""
        now = self._now()
        connected = 0
        for peer in peers:
            try:
                pid = await self.host.connect(peer)
            except (Libp2pError, OSError) as exc:
                log.warning("could not reach bootstrap peer %s: %s", peer, exc)
                continue
            connected += 1
            self.core.add_peer(pid, now)
        self._pump()
        await self.refresh(force=True)
        return len(self.core.routing)

    async def refresh(self, *, force: bool = False) -> None:
        """Look up stale buckets (all buckets up to the deepest one when ``force``)."""
        now = self._now()
        if force:
            cpls = range(min(self.core.routing.max_cpl(), self.config.max_refresh_cpl) + 1)
            keys = [self.host.peer_id.to_bytes()] + [
                self.core.routing.random_key_for_cpl(c, os.urandom) for c in cpls
            ]
        else:
            keys = self.core.refresh_keys(now)
        if not keys:
            return
        # The self-lookup first: it fills the deep buckets the others would otherwise start from.
        await self._lookup(LookupKind.FIND_NODE, keys[0])
        if len(keys) > 1:
            await asyncio.gather(*(self._lookup(LookupKind.FIND_NODE, k) for k in keys[1:]))

    async def lookup(self, key: bytes, *, target_peer: PeerId | None = None) -> LookupResult:
        """A FIND_NODE lookup of ``key`` with everything it learned: the closest peers, whether
        ``target_peer`` (which ends the lookup early) showed up, and its statistics (hops, requests)."""
        if target_peer is None:
            return await self._lookup(LookupKind.FIND_NODE, bytes(key))
        return await self._lookup(LookupKind.FIND_NODE, bytes(key), target_peer=target_peer)

    async def get_closest_peers(self, key: bytes) -> list[PeerId]:
        """The k closest DHT servers to ``key`` that answered us."""
        return list((await self.lookup(key)).closest)

    async def find_peer(self, peer_id: PeerId) -> PeerInfo | None:
        """Addresses of ``peer_id``: from a live connection, else by a lookup."""
        if self.host.connections(peer_id):
            return PeerInfo(peer_id, tuple(self.host.peerstore.addrs(peer_id)))
        result = await self.lookup(peer_id.to_bytes(), target_peer=peer_id)
        addrs = self.host.peerstore.addrs(peer_id)
        if not result.target_found or not addrs:
            return None
        return PeerInfo(peer_id, tuple(addrs))

    async def _send_all(self, peers: Sequence[PeerId], msg: KadMessage) -> int:
        async def one(peer: PeerId) -> bool:
            try:
                await self.request(peer, msg)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("DHT %s to %s failed: %r", msg.type.name, peer, exc)
                return False

        results = await asyncio.gather(*(one(p) for p in peers))
        return sum(results)

    async def put_value(self, key: bytes, value: bytes) -> int:
        """Validate and store locally, then PUT_VALUE to the k closest peers; returns how many
        accepted it."""
        key, value = bytes(key), bytes(value)
        try:
            self.core.validate_and_store(key, value, self._now())
        except KadRequestRejected as exc:
            raise LocalProtocolError(f"cannot put this record: {exc}") from None
        peers = await self.get_closest_peers(key)
        return await self._send_all(peers, KadMessage(MessageType.PUT_VALUE, key, record=KadRecord(key, value)))

    async def get_value(self, key: bytes, *, quorum: int | None = None) -> bytes:
        """The best valid value for ``key`` (selected by its namespace's validator). Peers among
        the closest that lacked it, or held a worse one, are sent the best (as go does)."""
        result = await self._lookup(LookupKind.GET_VALUE, bytes(key), quorum=quorum)
        if result.best is None:
            raise RecordNotFoundError(f"no record for {bytes(key)!r}")
        if result.outdated:
            msg = KadMessage(MessageType.PUT_VALUE, result.key, record=KadRecord(result.key, result.best.value))
            self._spawn(self._send_all(result.outdated, msg), "kad correct outdated")
        return result.best.value

    @staticmethod
    def provider_key(key: bytes | CID) -> bytes:
        """Provider records are keyed by the content's multihash (CIDv0 and v1 share it)."""
        return key.multihash if isinstance(key, CID) else bytes(key)

    async def provide(self, key: bytes | CID) -> int:
        """Announce that we provide ``key`` to the k closest peers; returns how many were told.
        The record is republished every 22 hours while the DHT runs."""
        mkey = self.provider_key(key)
        now = self._now()
        self.core.add_local_provider(mkey, now)
        self._provided[mkey] = now
        peers = await self.get_closest_peers(mkey)
        me = KadPeer(self.host.peer_id, tuple(self.host.addrs))
        return await self._send_all(peers, KadMessage(MessageType.ADD_PROVIDER, mkey, provider_peers=(me,)))

    def stop_providing(self, key: bytes | CID) -> None:
        """Stop republishing the provider record for ``key`` (it expires on the servers)."""
        self._provided.pop(self.provider_key(key), None)

    async def find_providers(self, key: bytes | CID, count: int | None = None) -> list[PeerInfo]:
        """Up to ``count`` providers (default 20; 0 = every one a full lookup finds)."""
        result = await self._lookup(LookupKind.GET_PROVIDERS, self.provider_key(key), count=count)
        out = []
        for entry in result.providers:
            addrs = entry.addrs or tuple(self.host.peerstore.addrs(entry.peer_id))
            out.append(PeerInfo(entry.peer_id, tuple(addrs)))
        return out

    # --- periodic jobs ------------------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        period = max(1.0, self.config.refresh_interval / 10)
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("routing table refresh failed: %r", exc)
            await asyncio.sleep(period)

    async def _maintenance_loop(self) -> None:
        last_prune = self._now()
        period = min(_PRUNE_INTERVAL, self.republish_interval / 4)
        while True:
            await asyncio.sleep(max(period, 0.01))
            now = self._now()
            if now - last_prune >= _PRUNE_INTERVAL:
                self.core.store.prune(now)
                last_prune = now
            for key, at in list(self._provided.items()):
                if now - at >= self.republish_interval:
                    self._provided[key] = now
                    try:
                        await self.provide(key)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        log.debug("republishing a provider record failed: %r", exc)


def _is_unreachable(exc: BaseException) -> bool:
    """A dial failure or a refused protocol: the peer is not a usable DHT server now."""
    from libp2p.negotiate.service import ProtocolNotSupportedError
    from libp2p.transport.tcp import DialError

    return isinstance(exc, (DialError, ProtocolNotSupportedError))
