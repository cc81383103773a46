"""GossipSub and FloodSub as host services: the asyncio adapter around ``PubsubRouter``.

One long-lived outbound stream per peer carries everything we send (negotiated best-first:
``/meshsub/1.3.0``, ``/meshsub/1.2.0``, ``/meshsub/1.1.0``, ``/meshsub/1.0.0``, ``/floodsub/1.0.0``); the peer's
inbound stream is only read. Each peer's writer has a bounded queue: a peer that cannot keep up
loses messages (as go drops RPCs to a full peer queue) instead of growing our memory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from libp2p._accel import FrameReader
from libp2p.errors import DecodeError, Libp2pError, LocalProtocolError, StateError
from libp2p.host.events import PeerConnected, PeerDisconnected, PeerProtocolsUpdated
from libp2p.host.service import Service
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import consume_peer_record
from libp2p.multiaddr import Multiaddr
from libp2p.peerstore import PeerInfo
from libp2p.protocols.pubsub.config import GossipSubConfig, SignaturePolicy, ValidationResult
from libp2p.protocols.pubsub.core import PubsubRouter, RouterKind
from libp2p.protocols.pubsub.events import (
    ConnectRequested,
    Grafted,
    MessageReceived,
    PeerJoinedTopic,
    Pruned,
    ValidationRequested,
)
from libp2p.protocols.pubsub.wire import PubsubDecodeError, PubsubMessage

if TYPE_CHECKING:
    from libp2p.abc import Stream
    from libp2p.host.host import Host

__all__ = ["FloodSub", "GossipSub", "MessageRejectedError", "Subscription", "Validator"]

log = logging.getLogger("libp2p.pubsub")

Validator = Callable[[PubsubMessage], "ValidationResult | Awaitable[ValidationResult]"]

# Messages a subscription buffers for a slow reader before it drops the oldest (go: 32).
SUBSCRIPTION_BUFFER = 256
# Bytes queued to one peer before further RPCs to it are dropped.
MAX_PEER_QUEUE_BYTES = 8 << 20
# Peer-exchange and direct-peer dials in flight at once, and how long one may take.
MAX_CONCURRENT_CONNECTS = 8
CONNECT_TIMEOUT = 10.0
OPEN_STREAM_TIMEOUT = 10.0
_MESH_TAG_VALUE = 20


class MessageRejectedError(LocalProtocolError):
    """A message we tried to publish was rejected (or ignored) by its topic's validators."""


class Subscription:
    """Messages on one topic, as an async iterator; ``async with`` (or ``cancel()``) unsubscribes."""

    def __init__(self, pubsub: _PubsubService, topic: str) -> None:
        self.topic = topic
        self._pubsub = pubsub
        self._queue: deque[PubsubMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        #: messages lost because the reader fell ``SUBSCRIPTION_BUFFER`` behind
        self.dropped = 0

    def _put(self, message: PubsubMessage) -> None:
        if len(self._queue) >= SUBSCRIPTION_BUFFER:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def cancel(self) -> None:
        """Unsubscribe (the topic is left when its last subscription goes); iteration then ends
        once the buffered messages are read."""
        if not self._closed:
            self._closed = True
            self._pubsub._unsubscribe(self)
            self._wake()

    async def get(self) -> PubsubMessage:
        """The next message (``StopAsyncIteration`` once cancelled and drained)."""
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[PubsubMessage]:
        return self

    async def __anext__(self) -> PubsubMessage:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()


class _PeerSender:
    """The writer of one peer's outbound stream. An RPC goes straight into the stream when
    nothing waits before it and the stream takes it without waiting (the usual case: no task
    wake-up per peer per message); otherwise it is queued and written in order by one task."""

    def __init__(self) -> None:
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.idle = asyncio.Event()  # nothing queued and no write in progress
        self.idle.set()
        self.stream: Stream | None = None  # set once open: then RPCs can be written directly
        self.writing = False  # the task is in a write: later RPCs queue behind it

    def put(self, data: bytes) -> None:
        stream = self.stream
        if stream is not None and not self.queue and not self.writing:
            try:
                accepted = stream.write_nowait(data)
            except (Libp2pError, OSError):
                accepted = 0  # the task's write raises it again and cleans up
            if accepted == len(data):
                return
            data = data[accepted:]  # the rest (or all of it) waits for the window or the socket
        if self.queued + len(data) > MAX_PEER_QUEUE_BYTES:
            self.dropped += 1
            return
        self.queue.append(data)
        self.queued += len(data)
        self.idle.clear()
        self.wakeup.set()


class _PubsubService(Service):
    name = "pubsub"
    _kind: RouterKind = "gossipsub"

    def __init__(
        self,
        config: GossipSubConfig | None = None,
        *,
        signature_policy: SignaturePolicy = SignaturePolicy.STRICT_SIGN,
    ) -> None:
        super().__init__()
        self.config = config or GossipSubConfig()
        self.signature_policy = signature_policy
        self._router: PubsubRouter | None = None
        self._subscriptions: dict[str, list[Subscription]] = defaultdict(list)
        self._validators: dict[str, list[Validator]] = defaultdict(list)
        self._senders: dict[PeerId, _PeerSender] = {}
        self._inbound: dict[PeerId, Stream] = {}
        self._connects = 0
        self._unsubscribe_events: list[Callable[[], None]] = []
        self._direct_addrs: dict[PeerId, tuple[Multiaddr, ...]] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def router(self) -> PubsubRouter:
        if self._router is None:
            raise StateError("pubsub is not started on a host")
        return self._router

    @property
    def protocols(self) -> tuple[str, ...]:
        return self._router.protocols if self._router is not None else ()

    def _now(self) -> float:
        return time.monotonic()

    async def start(self, host: Host) -> None:
        await super().start(host)
        for text in self.config.direct_peers:
            info = PeerInfo.from_multiaddr(text)
            self._direct_addrs[info.peer_id] = info.addrs
        self._router = self._new_router(host)
        for protocol in self._router.protocols:
            host.set_stream_handler(protocol, self._handle_inbound)
        for peer, addrs in self._direct_addrs.items():
            host.peerstore.add_addrs(peer, addrs)
            host.connmgr.protect(peer, "pubsub:direct")
            self._request_connect(peer, None)
        self._unsubscribe_events = [
            host.events.subscribe(PeerConnected, lambda e: self._start_peer(e.peer_id)),
            host.events.subscribe(PeerDisconnected, lambda e: self._peer_gone(e.peer_id)),
            host.events.subscribe(PeerProtocolsUpdated, self._protocols_updated),
        ]
        for peer in host.connected_peers():
            self._start_peer(peer)
        host.spawn(self._heartbeat_loop(), f"{self.name} heartbeat")

    def _new_router(self, host: Host) -> PubsubRouter:
        """The sans-IO router this service drives (a subclass may return a variant, as the
        simulation's hostile nodes do)."""
        return PubsubRouter(
            host.peer_id,
            kind=self._kind,
            config=self.config,
            signature_policy=self.signature_policy,
            key=host.key,
            direct_peers=self._direct_addrs,
            peer_record=host.peerstore.signed_peer_record,
            seqno_start=time.time_ns(),
            now=self._now(),
        )

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe_events:
            unsubscribe()
        self._unsubscribe_events = []
        for subs in list(self._subscriptions.values()):
            for sub in list(subs):
                sub._closed = True
                sub._wake()
        for sender in self._senders.values():
            if sender.task is not None:
                sender.task.cancel()
        self._senders.clear()

    async def _heartbeat_loop(self) -> None:
        router = self.router
        while True:
            delay = max(0.0, router.get_timer() - self._now())
            await asyncio.sleep(delay)
            router.handle_timer(self._now())
            self._flush()

    # --- peers ---------------------------------------------------------------------------------

    def _start_peer(self, peer: PeerId) -> None:
        if peer in self._senders or self._host is None:
            return
        sender = self._senders[peer] = _PeerSender()
        sender.task = self.host.spawn(self._run_sender(peer, sender), f"pubsub sender to {peer}")

    def _protocols_updated(self, event: PeerProtocolsUpdated) -> None:
        # A peer that did not speak pubsub when we connected may have started to.
        if event.peer_id not in self._senders and set(self.router.protocols) & event.added:
            if self.host.connections(event.peer_id):
                self._start_peer(event.peer_id)

    def _peer_gone(self, peer: PeerId) -> None:
        sender = self._senders.pop(peer, None)
        if sender is not None and sender.task is not None:
            sender.task.cancel()
        self._inbound.pop(peer, None)
        if self._router is not None:
            self._router.remove_peer(peer, self._now())
            self._flush()

    async def _run_sender(self, peer: PeerId, sender: _PeerSender) -> None:
        host = self.host
        router = self.router
        try:
            async with asyncio.timeout(OPEN_STREAM_TIMEOUT):
                stream = await host.new_stream(peer, list(router.protocols))
        except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
            log.debug("no pubsub stream to %s: %r", peer, exc)
            if self._senders.get(peer) is sender:
                del self._senders[peer]  # PeerProtocolsUpdated may start another try
            return
        conns = host.connections(peer)
        outbound = bool(conns) and conns[0].is_initiator
        ip = _ip_of(conns[0].remote_addr) if conns else None
        router.add_peer(peer, stream.protocol, outbound=outbound, ip=ip)
        sender.stream = stream
        self._flush()
        try:
            while True:
                while not sender.queue:
                    sender.idle.set()
                    sender.wakeup.clear()
                    await sender.wakeup.wait()
                batch = list(sender.queue)
                sender.queue.clear()
                sender.queued = 0
                sender.writing = True
                await stream.write(b"".join(batch))
                sender.writing = False
        except asyncio.CancelledError:
            await stream.reset()
            raise
        except (Libp2pError, OSError, EOFError) as exc:
            log.debug("pubsub stream to %s failed: %r", peer, exc)
            await stream.reset()
            if self._senders.get(peer) is sender:
                del self._senders[peer]
                router.remove_peer(peer, self._now())
                self._flush()

    async def _handle_inbound(self, stream: Stream) -> None:
        peer = stream.remote_peer_id
        previous = self._inbound.get(peer)
        self._inbound[peer] = stream
        if previous is not None:
            await previous.reset()  # one inbound stream per peer; the newest wins (as go)
        self._start_peer(peer)
        router = self.router
        router.inbound_stream_opened(peer)
        reader = FrameReader(self.config.max_rpc_size)
        try:
            while True:
                data = await stream.read(65536)
                if not data:
                    return
                reader.feed(data)
                now = self._now()
                while (frame := reader.next_frame()) is not None:
                    router.receive_rpc(peer, frame, now)
                self._flush()  # once per read: what several RPCs queued leaves together
        except DecodeError as exc:
            log.warning("bad pubsub RPC from %s, resetting its stream: %s", peer, exc)
            if not isinstance(exc, PubsubDecodeError):  # the router already counted those
                router.report_malformed(peer)
            self._flush()
            await stream.reset()
        finally:
            if self._inbound.get(peer) is stream:
                del self._inbound[peer]

    # --- the router's output -------------------------------------------------------------------

    def _flush(self) -> None:
        router = self._router
        if router is None:
            return
        while (event := router.next_event()) is not None:
            if isinstance(event, MessageReceived):
                for sub in list(self._subscriptions.get(event.message.topic, ())):
                    sub._put(event.message)
            elif isinstance(event, ValidationRequested):
                self._validate_incoming(event.message)
            elif isinstance(event, ConnectRequested):
                self._request_connect(event.peer_id, event.signed_peer_record)
            else:
                if isinstance(event, Grafted):
                    self.host.connmgr.tag_peer(event.peer_id, f"pubsub:mesh:{event.topic}", _MESH_TAG_VALUE)
                    self.host.connmgr.protect(event.peer_id, f"pubsub:mesh:{event.topic}")
                elif isinstance(event, Pruned):
                    self.host.connmgr.untag_peer(event.peer_id, f"pubsub:mesh:{event.topic}")
                    self.host.connmgr.unprotect(event.peer_id, f"pubsub:mesh:{event.topic}")
                self.host.events.emit(event)
        for peer, data in router.data_to_send():
            sender = self._senders.get(peer)
            if sender is not None:
                sender.put(data)

    def _request_connect(self, peer: PeerId, record: bytes | None) -> None:
        if self._connects >= MAX_CONCURRENT_CONNECTS or self.host.connections(peer):
            return
        addrs: tuple[Multiaddr, ...] = self._direct_addrs.get(peer, ())
        if record is not None:
            try:
                _, peer_record = consume_peer_record(record)
                addrs = addrs + peer_record.addrs
            except (DecodeError, Libp2pError):
                return
        self._connects += 1
        self.host.spawn(self._connect(PeerInfo(peer, addrs)), f"pubsub connect {peer}")

    async def _connect(self, info: PeerInfo) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.host.connect(info)
        except (Libp2pError, OSError, TimeoutError, ValueError) as exc:
            log.debug("pubsub could not connect to %s: %r", info.peer_id, exc)
        finally:
            self._connects -= 1

    # --- validation ----------------------------------------------------------------------------

    def add_validator(self, topic: str, validator: Validator) -> None:
        """Run ``validator(msg)`` (sync or async) on every new message of ``topic`` before it is
        delivered or forwarded; every validator must ACCEPT."""
        self._validators[topic].append(validator)
        if self._router is not None:
            self._router.validated_topics.add(topic)

    def remove_validator(self, topic: str, validator: Validator) -> None:
        """Stop running ``validator`` on ``topic`` (nothing happens if it was not added)."""
        validators = self._validators.get(topic)
        if validators and validator in validators:
            validators.remove(validator)
            if not validators:
                del self._validators[topic]
                if self._router is not None:
                    self._router.validated_topics.discard(topic)

    def _validate_incoming(self, message: PubsubMessage) -> None:
        verdict, pending = self._run_sync_validators(message)
        if pending:
            self.host.spawn(self._finish_validation(message, pending), "pubsub validation")
        else:
            self.router.report_validation(message.message_id, verdict, self._now())

    def _run_sync_validators(
        self, message: PubsubMessage
    ) -> tuple[ValidationResult, list[Awaitable[ValidationResult]]]:
        verdict = ValidationResult.ACCEPT
        pending: list[Awaitable[ValidationResult]] = []
        for validator in list(self._validators.get(message.topic, ())):
            try:
                result = validator(message)
            except Exception as exc:  # noqa: BLE001 - a failing validator rejects
                log.warning("validator for %r raised %r; rejecting", message.topic, exc)
                return ValidationResult.REJECT, []
            if inspect.isawaitable(result):
                pending.append(result)
            else:
                verdict = _worse(verdict, result)
        if verdict is not ValidationResult.ACCEPT:
            for awaitable in pending:
                if inspect.iscoroutine(awaitable):
                    awaitable.close()
            return verdict, []
        return verdict, pending

    async def _await_validators(self, message: PubsubMessage, pending: list[Awaitable[ValidationResult]]) -> ValidationResult:
        verdict = ValidationResult.ACCEPT
        try:
            async with asyncio.timeout(self.config.validation_timeout):
                for awaitable in pending:
                    verdict = _worse(verdict, await awaitable)
        except TimeoutError:
            return ValidationResult.IGNORE
        except Exception as exc:  # noqa: BLE001 - a failing validator rejects
            log.warning("validator for %r raised %r; rejecting", message.topic, exc)
            return ValidationResult.REJECT
        return verdict

    async def _finish_validation(self, message: PubsubMessage, pending: list[Awaitable[ValidationResult]]) -> None:
        verdict = await self._await_validators(message, pending)
        self.router.report_validation(message.message_id, verdict, self._now())
        self._flush()

    # --- the public API ------------------------------------------------------------------------

    def subscribe(self, topic: str) -> Subscription:
        """Join ``topic``; iterate the returned subscription for its messages."""
        sub = Subscription(self, topic)
        subs = self._subscriptions[topic]
        subs.append(sub)
        if len(subs) == 1:
            self.router.subscribe(topic, self._now())
            self._flush()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscriptions.get(sub.topic)
        if subs is None or sub not in subs:
            return
        subs.remove(sub)
        if not subs:
            del self._subscriptions[sub.topic]
            if self._router is not None:
                self._router.unsubscribe(sub.topic, self._now())
                self._flush()

    async def publish(self, topic: str, data: bytes) -> int:
        """Publish ``data`` on ``topic`` (validated by the topic's validators first); returns the
        number of peers it was sent to."""
        router = self.router
        msg, message = router.build_message(topic, bytes(data))
        verdict, pending = self._run_sync_validators(message)
        if pending:
            verdict = await self._await_validators(message, pending)
        if verdict is not ValidationResult.ACCEPT:
            raise MessageRejectedError(f"the validators of {topic!r} answered {verdict.value}")
        sent = router.publish_message(msg, message, self._now())
        self._flush()
        return sent

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far was written to the peers' streams (bounded)."""
        async with asyncio.timeout(timeout):
            await asyncio.sleep(0)  # RPCs written without waiting leave with the muxers' flushes, now
            for sender in list(self._senders.values()):
                if sender.task is not None and not sender.task.done():
                    await sender.idle.wait()

    def topics(self) -> list[str]:
        """The topics we subscribe to, sorted."""
        return sorted(self.router.topics)

    def topic_peers(self, topic: str) -> list[PeerId]:
        """The peers that announced ``topic``, sorted."""
        return self.router.topic_peers(topic)

    def mesh_peers(self, topic: str) -> list[PeerId]:
        """Our mesh peers for ``topic``, sorted (GossipSub; FloodSub has no mesh)."""
        return self.router.mesh_peers(topic)

    def peers(self) -> list[PeerId]:
        """The connected peers that speak pubsub with us."""
        return self.router.peers

    def score(self, peer_id: PeerId) -> float:
        """The peer's current score (0 when scoring is off)."""
        return self.router.peer_score(peer_id, self._now())

    async def wait_for_topic_peers(self, topic: str, count: int = 1, *, timeout: float = 10.0) -> list[PeerId]:
        """Wait until at least ``count`` peers announced ``topic`` (``TimeoutError`` after ``timeout``)."""
        if len(self.topic_peers(topic)) >= count:
            return self.topic_peers(topic)
        ready = asyncio.Event()

        def check(event: PeerJoinedTopic) -> None:
            if event.topic == topic and len(self.topic_peers(topic)) >= count:
                ready.set()

        unsubscribe = self.host.events.subscribe(PeerJoinedTopic, check)
        try:
            async with asyncio.timeout(timeout):
                await ready.wait()
        finally:
            unsubscribe()
        return self.topic_peers(topic)


class GossipSub(_PubsubService):
    """GossipSub v1.2 (with v1.1 and v1.0 peers, and floodsub peers) as a host service."""

    _kind: RouterKind = "gossipsub"


class FloodSub(_PubsubService):
    """FloodSub (``/floodsub/1.0.0``) with the same API as ``GossipSub``."""

    _kind: RouterKind = "floodsub"


_SEVERITY = {ValidationResult.ACCEPT: 0, ValidationResult.IGNORE: 1, ValidationResult.REJECT: 2}


def _worse(a: ValidationResult, b: object) -> ValidationResult:
    if not isinstance(b, ValidationResult):
        log.warning("a validator returned %r instead of a ValidationResult; rejecting", b)
        return ValidationResult.REJECT
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


def _ip_of(addr: Multiaddr | None) -> str | None:
    if addr is None:
        return None
    for proto in ("ip4", "ip6"):
        if addr.has_protocol(proto):
            return addr.value_for_protocol(proto)
    return None

