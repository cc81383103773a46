"""The pubsub router as a sans-IO core: floodsub, and gossipsub v1.0/v1.1/v1.2.

Bytes and time in, events and bytes out. The service feeds each RPC frame a peer sent with
``receive_rpc(peer, frame, now)``, calls ``handle_timer(now)`` at ``get_timer()``, takes
``next_event()`` (messages to deliver or validate, joins and leaves, PX connect requests) and
writes ``data_to_send()`` (length-prefixed RPCs per peer). Nothing here blocks or reads a clock,
so many routers can be pumped together in memory (``tests/sansio/test_gossipsub*.py``).

Behaviour follows the gossipsub specs; where they are silent it follows go-libp2p-pubsub
(``gossipsub.go``): which peers a message is forwarded to, the heartbeat's order, the IHAVE/IWANT
limits and the GRAFT/PRUNE backoff penalties.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import filterfalse, islice
from typing import Literal

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, InvalidSignatureError, LocalProtocolError
from libp2p.identity.keys import PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import consume_peer_record
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub.config import GossipSubConfig, SignaturePolicy, ValidationResult
from libp2p.protocols.pubsub.events import (
    ConnectRequested,
    Grafted,
    MessageReceived,
    PeerJoinedTopic,
    PeerLeftTopic,
    Pruned,
    PubsubEvent,
    ValidationRequested,
)
from libp2p.protocols.pubsub.score import PeerScore
from libp2p.protocols.pubsub.wire import (
    FLOODSUB_PROTOCOL_ID,
    GOSSIPSUB_PROTOCOLS,
    MESHSUB_V10,
    MESHSUB_V11,
    MESHSUB_V12,
    MESHSUB_V13,
    PubsubDecodeError,
    PubsubMessage,
    PubsubProtocolError,
    content_message_id,
    decode_rpc,
    default_message_id,
    encode_publish_field,
    sign_message,
    topic_text,
    verify_message_signature,
)

__all__ = ["PubsubRouter", "RouterKind"]

log = logging.getLogger("libp2p.pubsub")

RouterKind = Literal["gossipsub", "floodsub"]

_MESH_PROTOCOLS = frozenset((MESHSUB_V10, MESHSUB_V11, MESHSUB_V12, MESHSUB_V13))
_PX_PROTOCOLS = frozenset((MESHSUB_V11, MESHSUB_V12, MESHSUB_V13))
_IDONTWANT_PROTOCOLS = frozenset((MESHSUB_V12, MESHSUB_V13))


@dataclass(slots=True)
class _Peer:
    peer_id: PeerId
    protocol: str | None = None  # negotiated on our outbound stream; None until then
    outbound: bool = False  # we dialed the connection (for the D_out quota)
    topics: set[str] = field(default_factory=set)
    ihave_received: int = 0  # IHAVE messages this heartbeat
    iasked: int = 0  # ids we asked this peer for (IWANT) this heartbeat
    open_promise: bytes | None = None  # the id its last IWANT promised, until kept or broken
    broken_streak: int = 0  # promises broken since its last kept one
    ihave_ignored_until: float = 0.0  # backoff after a broken promise
    dont_send: OrderedDict[bytes, int] = field(default_factory=OrderedDict)  # IDONTWANT id -> heartbeat
    rpcs_on_stream: int = 0  # RPCs read from its current inbound stream (v1.3 extensions rule)
    connected: bool = True

    @property
    def mesh_capable(self) -> bool:
        return self.protocol in _MESH_PROTOCOLS


@dataclass(slots=True)
class _Outbox:
    rpc: pubsub_pb2.RPC | None = None  # subscriptions and control entries, made when first needed
    # Encoded ControlMessage.idontwant entries: built once per message and shared by every peer
    # it goes to, then merged into this RPC's one control field (see ``data_to_send``).
    idontwant: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)  # encoded RPC.publish fields
    has_control: bool = False

    @property
    def control(self) -> pubsub_pb2.RPC:
        rpc = self.rpc
        if rpc is None:
            rpc = self.rpc = pubsub_pb2.RPC()
        return rpc


@dataclass(slots=True)
class _Pending:
    msg: pubsub_pb2.Message
    message: PubsubMessage


class _MessageCache:
    """The last ``history`` heartbeat windows of messages, for IWANT; the last ``gossip`` windows' ids
    are advertised in IHAVE. Counts how often each id went to each peer (retransmission limit)."""

    def __init__(self, gossip: int, history: int) -> None:
        self._gossip = gossip
        self._windows: deque[list[tuple[bytes, str]]] = deque([[]], maxlen=history)
        self._messages: dict[bytes, bytes] = {}  # id -> encoded RPC.publish field
        self._transmissions: dict[bytes, dict[PeerId, int]] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, msg_id: bytes, topic: str, msg: bytes) -> None:
        if msg_id in self._messages:
            return
        self._messages[msg_id] = msg
        self._windows[0].append((msg_id, topic))

    def get(self, msg_id: bytes) -> bytes | None:
        return self._messages.get(msg_id)

    def get_for_peer(self, msg_id: bytes, peer: PeerId) -> tuple[bytes | None, int]:
        msg = self._messages.get(msg_id)
        if msg is None:
            return None, 0
        counts = self._transmissions.setdefault(msg_id, {})
        counts[peer] = counts.get(peer, 0) + 1
        return msg, counts[peer]

    def gossip_ids(self, topic: str) -> list[bytes]:
        out: list[bytes] = []
        for window in list(self._windows)[: self._gossip]:
            out.extend(msg_id for msg_id, t in window if t == topic)
        return out

    def shift(self) -> None:
        if len(self._windows) == self._windows.maxlen:
            for msg_id, _ in self._windows[-1]:
                self._messages.pop(msg_id, None)
                self._transmissions.pop(msg_id, None)
        self._windows.appendleft([])


class PubsubRouter:
    """One node's pubsub router. ``kind`` picks gossipsub (meshes, gossip, scoring) or floodsub.

    ``key`` signs what we publish under StrictSign; ``peer_record`` gives the signed peer record
    of a peer we know (for PX when we prune), and ``rng`` makes runs reproducible in tests.
    """

    def __init__(
        self,
        local_peer: PeerId,
        *,
        kind: RouterKind = "gossipsub",
        config: GossipSubConfig | None = None,
        signature_policy: SignaturePolicy = SignaturePolicy.STRICT_SIGN,
        key: PrivateKey | None = None,
        direct_peers: Iterable[PeerId] = (),
        peer_record: Callable[[PeerId], bytes | None] | None = None,
        rng: random.Random | None = None,
        seqno_start: int = 0,
        now: float = 0.0,
    ) -> None:
        self.local_peer = local_peer
        self.kind: RouterKind = kind
        self.config = config = config or GossipSubConfig()
        self.signature_policy = signature_policy
        if signature_policy is SignaturePolicy.STRICT_SIGN:
            if key is None or not local_peer.matches_public_key(key.public_key):
                raise LocalProtocolError("StrictSign needs the host's private key")
        self._key = key
        self._message_id = config.message_id_fn or (
            default_message_id if signature_policy is SignaturePolicy.STRICT_SIGN else content_message_id
        )
        self._rng = rng or random.Random()
        self._peer_record = peer_record
        self._seqno = seqno_start & 0xFFFFFFFFFFFFFFFF
        self.direct_peers: frozenset[PeerId] = frozenset(direct_peers)
        self._peers: dict[PeerId, _Peer] = {}
        self._topic_peers: dict[str, set[PeerId]] = {}
        self._my_topics: set[str] = set()
        self._mesh: dict[str, set[PeerId]] = {}
        self._fanout: dict[str, set[PeerId]] = {}
        self._last_publish: dict[str, float] = {}
        self._backoff: dict[str, dict[PeerId, float]] = {}
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._mcache = _MessageCache(config.history_gossip, config.history_length)
        self._promises: dict[bytes, dict[PeerId, float]] = {}
        self._promise_total = 0  # entries in _promises, all ids together
        self._pending: dict[bytes, _Pending] = {}
        #: topics whose messages go through validation (``ValidationRequested``) before delivery
        self.validated_topics: set[str] = set()
        self._outbox: dict[PeerId, _Outbox] = {}
        self._events: deque[PubsubEvent] = deque()
        self.score: PeerScore | None = None
        if config.score_params is not None and kind == "gossipsub":
            self.score = PeerScore(
                config.score_params, delivery_ttl=config.seen_ttl, max_deliveries=config.max_seen_messages
            )
        self._heartbeats = 0
        self._next_heartbeat = now + config.heartbeat_initial_delay
        #: counters for tests, logs and the simulation
        self.stats: dict[str, int] = {
            "rpcs_received": 0, "rpcs_dropped_graylist": 0, "messages_received": 0, "duplicates": 0,
            "invalid": 0, "ignored": 0, "delivered": 0, "forwarded": 0, "published": 0,
            "iwant_sent": 0, "iwant_served": 0, "ihave_sent": 0, "broken_promises": 0,
            "ihave_skipped": 0,  # RPCs parsed with their IHAVE cut out (it would be ignored)
            "bytes_sent": 0, "bytes_received": 0,
        }

    # --- queries -----------------------------------------------------------------------------

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocol ids to offer, best first."""
        return GOSSIPSUB_PROTOCOLS if self.kind == "gossipsub" else (FLOODSUB_PROTOCOL_ID,)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._my_topics)

    @property
    def peers(self) -> list[PeerId]:
        return [p for p, st in self._peers.items() if st.connected]

    def topic_peers(self, topic: str) -> list[PeerId]:
        return sorted(self._topic_peers.get(topic, ()))

    def mesh_peers(self, topic: str) -> list[PeerId]:
        return sorted(self._mesh.get(topic, ()))

    def fanout_peers(self, topic: str) -> list[PeerId]:
        return sorted(self._fanout.get(topic, ()))

    def peer_protocol(self, peer: PeerId) -> str | None:
        st = self._peers.get(peer)
        return st.protocol if st is not None else None

    def peer_score(self, peer: PeerId, now: float) -> float:
        return self.score.score(peer, now) if self.score is not None else 0.0

    def in_backoff(self, topic: str, peer: PeerId, now: float) -> bool:
        return self._backoff.get(topic, {}).get(peer, 0.0) > now

    @property
    def seen_count(self) -> int:
        return len(self._seen)

    @property
    def mcache_size(self) -> int:
        return len(self._mcache)

    @property
    def pending_validations(self) -> int:
        return len(self._pending)

    @property
    def promise_count(self) -> int:
        return self._promise_total

    def dont_send_count(self, peer: PeerId) -> int:
        st = self._peers.get(peer)
        return len(st.dont_send) if st is not None else 0

    # --- the sans-IO face ----------------------------------------------------------------------

    def next_event(self) -> PubsubEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[tuple[PeerId, bytes]]:
        """Framed RPCs per peer (control first, then messages packed up to ``max_rpc_size``)."""
        out: list[tuple[PeerId, bytes]] = []
        limit = self.config.max_rpc_size
        shared_src: bytes | None = None  # a message going alone to several peers is framed once
        shared = b""
        for peer, box in self._outbox.items():
            st = self._peers.get(peer)
            if st is None or not st.connected or st.protocol is None:
                continue  # kept until the peer's stream is ready
            rpc = box.rpc
            head = rpc.SerializeToString() if rpc is not None else b""
            if box.idontwant:
                # One RPC.control per RPC (some decoders keep only the last), so the shared
                # IDONTWANT entries join the other control entries inside it.
                ctl = b"".join(box.idontwant)
                if rpc is not None and rpc.HasField("control"):
                    ctl = rpc.control.SerializeToString() + ctl
                    rpc.ClearField("control")
                    head = rpc.SerializeToString()
                head += b"\x1a" + varint_encode(len(ctl)) + ctl
            if not head and len(box.messages) == 1:
                encoded = box.messages[0]
                if encoded is not shared_src:
                    shared_src, shared = encoded, varint_encode(len(encoded)) + encoded
                self.stats["bytes_sent"] += len(shared)
                out.append((peer, shared))
                continue
            chunks: list[bytes] = []
            body = [head] if head else []
            size = len(head)
            for encoded in box.messages:
                if size and size + len(encoded) > limit:
                    chunks.append(varint_encode(size))
                    chunks.extend(body)
                    body, size = [], 0
                body.append(encoded)
                size += len(encoded)
            if size:
                chunks.append(varint_encode(size))
                chunks.extend(body)
            data = b"".join(chunks)
            self.stats["bytes_sent"] += len(data)
            out.append((peer, data))
        for peer, _ in out:
            del self._outbox[peer]
        return out

    def get_timer(self) -> float:
        return self._next_heartbeat

    def handle_timer(self, now: float) -> None:
        if now >= self._next_heartbeat:
            self._next_heartbeat = max(self._next_heartbeat + self.config.heartbeat_interval, now)
            self.heartbeat(now)

    # --- peers ---------------------------------------------------------------------------------

    def add_peer(self, peer: PeerId, protocol: str | None, *, outbound: bool = False, ip: str | None = None) -> None:
        """A connected peer speaks ``protocol`` (negotiated on our outbound stream; None if not
        known yet). Sends it our subscriptions."""
        st = self._peers.get(peer)
        if st is None:
            st = self._peers[peer] = _Peer(peer)
            if self.score is not None:
                self.score.add_peer(peer, ip)
        elif ip is not None and self.score is not None:
            self.score.add_peer(peer, ip)  # first seen through its inbound stream, before its address
        st.connected = True
        st.outbound = st.outbound or outbound
        if protocol is not None and st.protocol is None:
            st.protocol = protocol
            if self._my_topics:
                for topic in sorted(self._my_topics):
                    self._queue_subscription(peer, topic, True)

    def remove_peer(self, peer: PeerId, now: float) -> None:
        st = self._peers.pop(peer, None)
        self._outbox.pop(peer, None)
        if st is None:
            return
        for topic in st.topics:
            self._drop_topic_peer(topic, peer)
        for topic, mesh in self._mesh.items():
            if peer in mesh:
                mesh.discard(peer)
                self._events.append(Pruned(topic, peer))
        for fanout in self._fanout.values():
            fanout.discard(peer)
        for msg_id in list(self._promises):
            promised = self._promises[msg_id]
            if promised.pop(peer, None) is not None:
                self._promise_total -= 1
                if not promised:
                    del self._promises[msg_id]
        if self.score is not None:
            self.score.remove_peer(peer, now)

    def _drop_topic_peer(self, topic: str, peer: PeerId) -> None:
        peers = self._topic_peers.get(topic)
        if peers is not None and peer in peers:
            peers.discard(peer)
            if not peers:
                del self._topic_peers[topic]
            self._events.append(PeerLeftTopic(topic, peer))

    # --- subscriptions -------------------------------------------------------------------------

    def subscribe(self, topic: str, now: float) -> None:
        if topic in self._my_topics:
            return
        if len(topic.encode()) > 1024:
            raise LocalProtocolError("topic name longer than 1024 bytes")
        self._my_topics.add(topic)
        for peer, st in self._peers.items():
            if st.protocol is not None:
                self._queue_subscription(peer, topic, True)
        if self.kind == "gossipsub":
            self._join(topic, now)

    def unsubscribe(self, topic: str, now: float) -> None:
        if topic not in self._my_topics:
            return
        self._my_topics.discard(topic)
        for peer, st in self._peers.items():
            if st.protocol is not None:
                self._queue_subscription(peer, topic, False)
        mesh = self._mesh.pop(topic, set())
        for peer in mesh:
            self._events.append(Pruned(topic, peer))
            if self.score is not None:
                self.score.prune(peer, topic)
            self._queue_prune(peer, topic, now, unsubscribing=True)

    def _join(self, topic: str, now: float) -> None:
        if topic in self._mesh:
            return
        cfg = self.config
        mesh = self._fanout.pop(topic, set())
        self._last_publish.pop(topic, None)
        mesh = {p for p in mesh if self._graftable(p, topic, now)}
        if len(mesh) < cfg.d:
            candidates = [p for p in self._topic_peers.get(topic, ()) if p not in mesh and self._graftable(p, topic, now)]
            mesh.update(self._sample(candidates, cfg.d - len(mesh)))
        self._mesh[topic] = mesh
        for peer in mesh:
            self._graft(peer, topic, now)

    def _graftable(self, peer: PeerId, topic: str, now: float) -> bool:
        st = self._peers.get(peer)
        return (
            st is not None and st.connected and st.mesh_capable and peer not in self.direct_peers
            and not self.in_backoff(topic, peer, now) and self.peer_score(peer, now) >= 0
        )

    def _graft(self, peer: PeerId, topic: str, now: float) -> None:
        if self.score is not None:
            self.score.graft(peer, topic, now)
        self._events.append(Grafted(topic, peer))
        box = self._box(peer)
        box.control.control.graft.add().topicID = topic.encode()
        box.has_control = True

    # --- publishing ----------------------------------------------------------------------------

    def build_message(self, topic: str, data: bytes) -> tuple[pubsub_pb2.Message, PubsubMessage]:
        """A new message of ours, signed per the policy, and how the application will see it."""
        if len(data) + len(topic) + 512 > self.config.max_rpc_size:
            raise LocalProtocolError(f"message of {len(data)} bytes does not fit in max_rpc_size")
        msg = pubsub_pb2.Message(data=data, topic=topic.encode())
        from_peer: PeerId | None = None
        seqno: bytes | None = None
        if self.signature_policy is SignaturePolicy.STRICT_SIGN:
            assert self._key is not None
            self._seqno = (self._seqno + 1) & 0xFFFFFFFFFFFFFFFF
            seqno = self._seqno.to_bytes(8, "big")
            setattr(msg, "from", self.local_peer.to_bytes())
            msg.seqno = seqno
            sign_message(self._key, msg)
            from_peer = self.local_peer
        msg_id = self._message_id(msg)
        return msg, PubsubMessage(topic, bytes(data), from_peer, seqno, bytes(msg_id), self.local_peer)

    def publish_message(self, msg: pubsub_pb2.Message, message: PubsubMessage, now: float) -> int:
        """Send a message from ``build_message`` (validated by the caller); returns the number of
        peers it went to. Local subscribers get it too."""
        msg_id = message.message_id
        if msg_id in self._seen:
            raise LocalProtocolError("duplicate message id (the message-id function must differ per message)")
        self._mark_seen(msg_id, now)
        encoded = encode_publish_field(msg)
        self._mcache.put(msg_id, message.topic, encoded)
        self.stats["published"] += 1
        if message.topic in self._my_topics:
            self._events.append(MessageReceived(message))
        return self._forward(encoded, msg_id, message.topic, None, self.local_peer, now)

    def publish(self, topic: str, data: bytes, now: float) -> int:
        """``build_message`` + ``publish_message`` without validation."""
        msg, message = self.build_message(topic, data)
        return self.publish_message(msg, message, now)

    def _forward(
        self, encoded: bytes, msg_id: bytes, topic: str, source: PeerId | None, author: PeerId | None,
        now: float,
    ) -> int:
        topic_peers = self._topic_peers.get(topic, set())
        recipients: set[PeerId] = set()
        if self.kind == "floodsub":
            recipients = set(topic_peers)
        else:
            cfg = self.config
            threshold = cfg.score_thresholds.publish_threshold
            direct, peers = self.direct_peers, self._peers
            for peer in topic_peers:
                if peers[peer].protocol == FLOODSUB_PROTOCOL_ID or (direct and peer in direct):
                    if self.peer_score(peer, now) >= threshold:
                        recipients.add(peer)
            if source is None and cfg.flood_publish:
                recipients.update(p for p in topic_peers if self.peer_score(p, now) >= threshold)
            elif topic in self._mesh:
                recipients.update(self._mesh[topic])
            elif source is None:
                fanout = self._fanout.get(topic)
                if not fanout:
                    candidates = [
                        p for p in topic_peers
                        if self._peers[p].mesh_capable and p not in self.direct_peers
                        and self.peer_score(p, now) >= threshold
                    ]
                    fanout = self._fanout[topic] = set(self._sample(candidates, cfg.d))
                self._last_publish[topic] = now
                recipients.update(fanout)
        if source is not None:
            recipients.discard(source)
        if author is not None:
            recipients.discard(author)
        sent = 0
        for peer in recipients:
            target = self._peers.get(peer)
            if target is None or not target.connected or msg_id in target.dont_send:
                continue
            self._box(peer).messages.append(encoded)
            sent += 1
        if source is not None:
            self.stats["forwarded"] += sent
        return sent

    # --- receiving -----------------------------------------------------------------------------

    def receive_rpc(self, peer: PeerId, frame: bytes | bytearray | memoryview, now: float) -> None:
        """One RPC frame (without its length prefix) from ``peer``. Raises ``PubsubDecodeError``
        for a malformed RPC (the service resets that stream); the peer is penalised for it."""
        self.stats["rpcs_received"] += 1
        self.stats["bytes_received"] += len(frame)
        st = self._peers.get(peer)
        if st is None:
            self.add_peer(peer, None)
            st = self._peers[peer]
        cfg = self.config
        score = self.score.score(peer, now) if self.score is not None else 0.0
        if score < cfg.score_thresholds.graylist_threshold:
            self.stats["rpcs_dropped_graylist"] += 1
            return
        # An IHAVE we would ignore anyway (as go: sender below the gossip threshold, or its IHAVE
        # budget for this heartbeat spent, or, ours, its last IWANT still unanswered) is cut from
        # the frame before parsing, so its ids are never decoded.
        skip_ihave = self.kind == "gossipsub" and (
            score < cfg.score_thresholds.gossip_threshold or st.ihave_received >= cfg.max_ihave_messages
            or st.iasked >= cfg.max_ihave_length or st.open_promise is not None or now < st.ihave_ignored_until
        )
        if skip_ihave:
            self.stats["ihave_skipped"] += 1
        try:
            rpc = decode_rpc(frame, cfg.max_rpc_size, skip_ihave=skip_ihave)
        except DecodeError:
            self._penalise(peer)
            raise
        st.rpcs_on_stream += 1
        ctl = rpc.control if rpc.HasField("control") else None
        if ctl is not None and st.rpcs_on_stream > 1 and ctl.HasField("extensions"):
            # v1.3: extensions come in the first RPC on a stream, once; a later one is misbehaviour.
            self._penalise(peer)
        if rpc.subscriptions:
            for sub in rpc.subscriptions:
                self._handle_subscription(st, sub)
        for msg in rpc.publish:
            self._handle_message(st, msg, now)
        if ctl is not None and self.kind == "gossipsub" and st.protocol != FLOODSUB_PROTOCOL_ID:
            self._handle_control(st, ctl, now)

    def inbound_stream_opened(self, peer: PeerId) -> None:
        """``peer`` opened a new stream to us (its first RPC may carry v1.3 extensions again)."""
        st = self._peers.get(peer)
        if st is not None:
            st.rpcs_on_stream = 0

    def report_malformed(self, peer: PeerId) -> None:
        """The service could not frame what ``peer`` sent (e.g. a length over ``max_rpc_size``)."""
        self._penalise(peer)

    def _penalise(self, peer: PeerId, count: float = 1.0) -> None:
        if self.score is not None:
            self.score.add_penalty(peer, count)

    def _handle_subscription(self, st: _Peer, sub: pubsub_pb2.RPC.SubOpts) -> None:
        try:
            topic = topic_text(sub.topicid)
        except PubsubDecodeError:
            self._penalise(st.peer_id)
            return
        if sub.subscribe:
            if topic in st.topics:
                return
            if len(st.topics) >= self.config.max_peer_subscriptions:
                self._penalise(st.peer_id)
                return
            st.topics.add(topic)
            self._topic_peers.setdefault(topic, set()).add(st.peer_id)
            self._events.append(PeerJoinedTopic(topic, st.peer_id))
        elif topic in st.topics:
            st.topics.discard(topic)
            self._drop_topic_peer(topic, st.peer_id)
            mesh = self._mesh.get(topic)
            if mesh is not None and st.peer_id in mesh:
                mesh.discard(st.peer_id)
                self._events.append(Pruned(topic, st.peer_id))
                if self.score is not None:
                    self.score.prune(st.peer_id, topic)
            fanout = self._fanout.get(topic)
            if fanout is not None:
                fanout.discard(st.peer_id)

    def _reject(self, peer: PeerId, msg_id: bytes | None, topic: str, now: float, why: str) -> None:
        self.stats["invalid"] += 1
        log.debug("rejecting a message from %s on %r: %s", peer, topic, why)
        if self.score is not None:
            self.score.reject_message(peer, msg_id, topic, now)

    def _handle_message(self, st: _Peer, msg: pubsub_pb2.Message, now: float) -> None:
        self.stats["messages_received"] += 1
        peer = st.peer_id
        if self.config.received_message_tracer is not None:
            self.config.received_message_tracer(peer, msg)
        try:
            topic = topic_text(msg.topic)
        except PubsubDecodeError:
            self._penalise(peer)
            return
        if topic not in self._my_topics:
            return  # as go: messages on topics we do not subscribe to are not ours to route
        try:
            msg_id = bytes(self._message_id(msg))
        except Exception as exc:  # noqa: BLE001 - an application id function failing on hostile input
            self._reject(peer, None, topic, now, f"message-id function failed: {exc!r}")
            return
        # Duplicates first, as go: most copies of a message are duplicates, and a signature check
        # costs more than everything else here. Nothing is marked seen before the signature is
        # checked, so a forged copy cannot shadow the real message.
        if msg_id in self._seen:
            self.stats["duplicates"] += 1
            if self.score is not None:
                self.score.duplicate_message(peer, msg_id, topic, now)
            return
        author: PeerId | None = None
        if self.signature_policy is SignaturePolicy.STRICT_SIGN:
            if len(msg.seqno) != 8:
                self._reject(peer, None, topic, now, "StrictSign message without an 8-byte seqno")
                return
            try:
                author = verify_message_signature(msg)
            except (InvalidSignatureError, PubsubProtocolError) as exc:
                self._reject(peer, None, topic, now, str(exc))
                return
            if author == self.local_peer:
                return  # our own message coming back: not new, not the forwarder's fault
        elif msg.HasField("from") or msg.HasField("seqno") or msg.HasField("signature") or msg.HasField("key"):
            self._reject(peer, None, topic, now, "StrictNoSign message with author fields")
            return
        self._keep_promises(msg_id)
        self._mark_seen(msg_id, now)
        if (
            self.kind == "gossipsub"
            and len(msg.data) >= self.config.idontwant_message_size_threshold
        ):
            self._send_idontwant(msg_id, topic, peer)
        message = PubsubMessage(
            topic, msg.data, author, msg.seqno if author is not None else None, msg_id, peer
        )
        if topic in self.validated_topics:
            if len(self._pending) >= self.config.max_pending_validations:
                self.stats["ignored"] += 1
                del self._seen[msg_id]  # throttled, not judged: a later copy may get through
                return
            if self.score is not None:
                self.score.validate_message(peer, msg_id, topic, now)
            self._pending[msg_id] = _Pending(msg, message)
            self._events.append(ValidationRequested(message))
            return
        self._accept(msg, message, now)

    def report_validation(self, msg_id: bytes, result: ValidationResult, now: float) -> None:
        """The validators' verdict on a ``ValidationRequested`` message."""
        pending = self._pending.pop(msg_id, None)
        if pending is None:
            return
        message = pending.message
        if result is ValidationResult.ACCEPT:
            self._accept(pending.msg, message, now)
        elif result is ValidationResult.REJECT:
            self._reject(message.received_from, msg_id, message.topic, now, "rejected by a validator")
        else:
            self.stats["ignored"] += 1
            if self.score is not None:
                self.score.ignore_message(msg_id, message.topic, now)

    def _accept(self, msg: pubsub_pb2.Message, message: PubsubMessage, now: float) -> None:
        encoded = encode_publish_field(msg)
        self._mcache.put(message.message_id, message.topic, encoded)
        if self.score is not None:
            self.score.deliver_message(message.received_from, message.message_id, message.topic, now)
        if message.topic in self._my_topics:
            self.stats["delivered"] += 1
            self._events.append(MessageReceived(message))
        self._forward(encoded, message.message_id, message.topic, message.received_from, message.from_peer, now)

    def _mark_seen(self, msg_id: bytes, now: float) -> None:
        self._seen[msg_id] = now + self.config.seen_ttl
        while len(self._seen) > self.config.max_seen_messages:
            self._seen.popitem(last=False)

    def _send_idontwant(self, msg_id: bytes, topic: str, source: PeerId) -> None:
        entry: bytes | None = None
        for peer in self._mesh.get(topic, ()):
            st = self._peers.get(peer)
            if peer == source or st is None or st.protocol not in _IDONTWANT_PROTOCOLS:
                continue
            if entry is None:
                entry = _idontwant_entry(msg_id)
            box = self._box(peer)
            box.idontwant.append(entry)
            box.has_control = True

    # --- control -------------------------------------------------------------------------------

    def _handle_control(self, st: _Peer, ctl: pubsub_pb2.ControlMessage, now: float) -> None:
        # The present fields only, in field order: IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT (most
        # control parts carry one IDONTWANT alone; looking each kind up costs more than that).
        for field_desc, value in ctl.ListFields():
            name = field_desc.name
            if name == "idontwant":
                self._handle_idontwant(st, value)
            elif name == "ihave":
                self._handle_ihave(st, value, now)
            elif name == "iwant":
                self._handle_iwant(st, value, now)
            elif name == "graft":
                prunes: list[str] = []
                for graft in value:
                    try:
                        topic = topic_text(graft.topicID)
                    except PubsubDecodeError:
                        self._penalise(st.peer_id)
                        continue
                    if self._handle_graft(st, topic, now):
                        prunes.append(topic)
                for topic in prunes:
                    self._queue_prune(st.peer_id, topic, now, px=False)
            elif name == "prune":
                for prune in value:
                    self._handle_prune(st, prune, now)

    def _handle_ihave(self, st: _Peer, ihaves: Iterable[pubsub_pb2.ControlIHave], now: float) -> None:
        cfg = self.config
        if self.peer_score(st.peer_id, now) < cfg.score_thresholds.gossip_threshold:
            return
        st.ihave_received += 1
        if st.ihave_received > cfg.max_ihave_messages or st.iasked >= cfg.max_ihave_length:
            return
        if st.open_promise is not None or now < st.ihave_ignored_until:
            # Ours, not go's: one IWANT in flight per peer, and a backoff after broken promises
            # (see _apply_broken_promises). An honest peer answers within a round trip, which
            # keeps the promise; a peer that advertises ids it never sends is not asked for
            # another 5000 every heartbeat while its score has yet to catch up.
            return
        budget = cfg.max_ihave_length - st.iasked
        seen, pending = self._seen, self._pending
        wanted: dict[bytes, None] = {}
        for ihave in ihaves:
            try:
                topic = topic_text(ihave.topicID)
            except PubsubDecodeError:
                continue
            if topic not in self._mesh:
                continue
            # At most max_ihave_length ids of one entry (as go), unseen ones only, and no more
            # than the peer's budget: ids past it are never read (go reads them all, then keeps
            # a random `budget` of them; honest peers advertise fewer than the budget).
            fresh = filterfalse(seen.__contains__, islice(ihave.messageIDs, cfg.max_ihave_length))
            if pending:
                fresh = filterfalse(pending.__contains__, fresh)
            while len(wanted) < budget:
                chunk = list(islice(fresh, budget - len(wanted)))
                if not chunk:
                    break
                wanted.update(dict.fromkeys(chunk))
            if len(wanted) >= budget:
                break
        if not wanted:
            return
        ids = list(wanted)
        st.iasked += len(ids)
        box = self._box(st.peer_id)
        box.control.control.iwant.add().messageIDs.extend(ids)
        box.has_control = True
        self.stats["iwant_sent"] += 1
        # One promise per IWANT (as go): the peer must deliver that id within the follow-up time.
        if self.promise_count < cfg.max_iwant_promises:
            promised = self._rng.choice(ids)
            peers = self._promises.setdefault(promised, {})
            if st.peer_id not in peers:  # as go: an earlier deadline for the same id stands
                peers[st.peer_id] = now + cfg.iwant_followup_time
                self._promise_total += 1
            st.open_promise = promised

    def _handle_iwant(self, st: _Peer, iwants: Iterable[pubsub_pb2.ControlIWant], now: float) -> None:
        cfg = self.config
        if self.peer_score(st.peer_id, now) < cfg.score_thresholds.gossip_threshold:
            return
        box: _Outbox | None = None
        for iwant in iwants:
            for msg_id in iwant.messageIDs:
                msg, count = self._mcache.get_for_peer(msg_id, st.peer_id)
                if msg is None or count > cfg.gossip_retransmission or msg_id in st.dont_send:
                    continue
                if box is None:
                    box = self._box(st.peer_id)
                box.messages.append(msg)
                self.stats["iwant_served"] += 1

    def _handle_graft(self, st: _Peer, topic: str, now: float) -> bool:
        """True when the GRAFT is refused with a PRUNE."""
        peer = st.peer_id
        mesh = self._mesh.get(topic)
        if mesh is None:
            return False  # v1.1: not subscribed, ignore (no PRUNE, which would leak that)
        if peer in mesh:
            return False
        if peer in self.direct_peers:
            log.warning("GRAFT from direct peer %s on %r", peer, topic)
            return True
        cfg = self.config
        expiry = self._backoff.get(topic, {}).get(peer)
        if expiry is not None and expiry > now:
            self._penalise(peer)
            # A GRAFT right after the PRUNE (within graft_flood_threshold) is a flood: twice the penalty.
            if now < expiry - cfg.prune_backoff + cfg.graft_flood_threshold:
                self._penalise(peer)
            self._add_backoff(topic, peer, now + cfg.prune_backoff)
            return True
        if self.peer_score(peer, now) < 0:
            self._add_backoff(topic, peer, now + cfg.prune_backoff)
            return True
        if len(mesh) >= cfg.d_hi and not st.outbound:
            self._add_backoff(topic, peer, now + cfg.prune_backoff)
            return True
        if not st.mesh_capable and st.protocol is not None:
            return False
        mesh.add(peer)
        if self.score is not None:
            self.score.graft(peer, topic, now)
        self._events.append(Grafted(topic, peer))
        return False

    def _handle_prune(self, st: _Peer, prune: pubsub_pb2.ControlPrune, now: float) -> None:
        try:
            topic = topic_text(prune.topicID)
        except PubsubDecodeError:
            self._penalise(st.peer_id)
            return
        peer = st.peer_id
        mesh = self._mesh.get(topic)
        if mesh is None:
            return  # as go: a PRUNE for a topic we have no mesh for leaves no state behind
        if peer in mesh:
            mesh.discard(peer)
            self._events.append(Pruned(topic, peer))
            if self.score is not None:
                self.score.prune(peer, topic)
        cfg = self.config
        backoff = float(prune.backoff) if prune.HasField("backoff") else cfg.prune_backoff
        backoff = min(backoff, 24 * 3600.0)  # bound what a peer can make us remember
        self._add_backoff(topic, peer, now + backoff)
        if prune.peers and cfg.do_px:
            if self.peer_score(peer, now) < cfg.score_thresholds.accept_px_threshold:
                return
            self._accept_px(prune.peers)

    def _accept_px(self, infos: Iterable[pubsub_pb2.PeerInfo]) -> None:
        taken = 0
        for info in infos:
            if taken >= self.config.prune_peers:
                break
            try:
                pid = PeerId.from_bytes(info.peerID)
            except DecodeError:
                continue
            if pid == self.local_peer or pid in self._peers:
                continue
            record: bytes | None = None
            if info.HasField("signedPeerRecord"):
                try:
                    _, peer_record = consume_peer_record(info.signedPeerRecord)
                except (DecodeError, InvalidSignatureError) as exc:
                    log.debug("dropping a PX entry for %s with a bad signed record: %s", pid, exc)
                    continue
                if peer_record.peer_id != pid:
                    continue
                record = bytes(info.signedPeerRecord)
            taken += 1
            self._events.append(ConnectRequested(pid, record))

    def _handle_idontwant(self, st: _Peer, idontwants: Iterable[pubsub_pb2.ControlIDontWant]) -> None:
        cap = self.config.max_idontwant_messages
        for idw in idontwants:
            for msg_id in idw.messageIDs:
                if len(st.dont_send) >= cap:
                    return
                st.dont_send[msg_id] = self._heartbeats

    def _add_backoff(self, topic: str, peer: PeerId, until: float) -> None:
        backoffs = self._backoff.setdefault(topic, {})
        if backoffs.get(peer, 0.0) < until:
            backoffs[peer] = until

    # --- output helpers ------------------------------------------------------------------------

    def _box(self, peer: PeerId) -> _Outbox:
        box = self._outbox.get(peer)
        if box is None:
            box = self._outbox[peer] = _Outbox()
        return box

    def _queue_subscription(self, peer: PeerId, topic: str, subscribe: bool) -> None:
        self._box(peer).control.subscriptions.add(subscribe=subscribe, topicid=topic.encode())

    def _queue_prune(
        self, peer: PeerId, topic: str, now: float, *, unsubscribing: bool = False, px: bool = True
    ) -> None:
        cfg = self.config
        backoff = cfg.unsubscribe_backoff if unsubscribing else cfg.prune_backoff
        self._add_backoff(topic, peer, now + backoff)
        st = self._peers.get(peer)
        if st is None or not st.mesh_capable:
            return
        box = self._box(peer)
        prune = box.control.control.prune.add()
        prune.topicID = topic.encode()
        box.has_control = True
        if st.protocol not in _PX_PROTOCOLS:
            return
        prune.backoff = int(backoff)
        if not (px and cfg.do_px) or self.peer_score(peer, now) < 0:
            return
        candidates = [
            p for p in self._topic_peers.get(topic, ())
            if p != peer and self._peers[p].mesh_capable and self.peer_score(p, now) >= 0
        ]
        for other in self._sample(candidates, cfg.prune_peers):
            info = prune.peers.add(peerID=other.to_bytes())
            record = self._peer_record(other) if self._peer_record is not None else None
            if record is not None:
                info.signedPeerRecord = record

    def _sample(self, peers: Iterable[PeerId], count: int) -> list[PeerId]:
        pool = sorted(peers)  # sorted first so a seeded rng gives the same choice every run
        if count <= 0:
            return []
        if len(pool) <= count:
            return pool
        return self._rng.sample(pool, count)

    # --- heartbeat -----------------------------------------------------------------------------

    def heartbeat(self, now: float) -> None:
        self._heartbeats += 1
        cfg = self.config
        self._expire_seen(now)
        for st in self._peers.values():
            st.ihave_received = 0
            st.iasked = 0
            if st.dont_send:
                oldest = self._heartbeats - cfg.idontwant_ttl_heartbeats
                while st.dont_send and next(iter(st.dont_send.values())) < oldest:
                    st.dont_send.popitem(last=False)
        if self.kind == "gossipsub":
            self._clean_backoff(now)
            self._apply_broken_promises(now)
            if self.score is not None:
                self.score.refresh(now)
            for topic in list(self._mesh):
                self._maintain_mesh(topic, now)
            self._maintain_fanout(now)
            self._emit_gossip(now)
            if self.direct_peers and self._heartbeats % cfg.direct_connect_ticks == 0:
                for peer in sorted(self.direct_peers):
                    direct = self._peers.get(peer)
                    if direct is None or not direct.connected:
                        self._events.append(ConnectRequested(peer))
        self._mcache.shift()

    def _expire_seen(self, now: float) -> None:
        seen = self._seen
        while seen:
            msg_id, expiry = next(iter(seen.items()))
            if expiry > now:
                break
            del seen[msg_id]

    def _clean_backoff(self, now: float) -> None:
        for topic in list(self._backoff):
            backoffs = self._backoff[topic]
            for peer in [p for p, until in backoffs.items() if until <= now]:
                del backoffs[peer]
            if not backoffs:
                del self._backoff[topic]

    def _keep_promises(self, msg_id: bytes) -> None:
        """``msg_id`` arrived (from anyone, as go): every promise for it is kept."""
        promised = self._promises.pop(msg_id, None)
        if promised is None:
            return
        self._promise_total -= len(promised)
        for peer in promised:
            st = self._peers.get(peer)
            if st is not None:
                st.broken_streak = 0
                if st.open_promise == msg_id:
                    st.open_promise = None

    def _apply_broken_promises(self, now: float) -> None:
        for msg_id in list(self._promises):
            promised = self._promises[msg_id]
            for peer in [p for p, deadline in promised.items() if deadline <= now]:
                del promised[peer]
                self._promise_total -= 1
                self.stats["broken_promises"] += 1
                self._penalise(peer)
                st = self._peers.get(peer)
                if st is not None:
                    if st.open_promise == msg_id:
                        st.open_promise = None
                    # Not asking it again at once: 1, 2, 4, ... heartbeats, as long as it keeps
                    # none. Only our IWANTs wait; its score takes the penalty as in go.
                    pause = self.config.heartbeat_interval * (1 << min(st.broken_streak, 16))
                    st.ihave_ignored_until = now + min(pause, self.config.broken_promise_backoff_max)
                    st.broken_streak += 1
            if not promised:
                del self._promises[msg_id]

    def _maintain_mesh(self, topic: str, now: float) -> None:
        cfg = self.config
        mesh = self._mesh[topic]
        scores = {p: self.peer_score(p, now) for p in self._topic_peers.get(topic, ())}

        def prune(peer: PeerId, *, px: bool = True) -> None:
            mesh.discard(peer)
            self._events.append(Pruned(topic, peer))
            if self.score is not None:
                self.score.prune(peer, topic)
            self._queue_prune(peer, topic, now, px=px)

        for peer in [p for p in mesh if scores.get(p, 0.0) < 0 or p not in self._peers]:
            prune(peer, px=False)
        if len(mesh) < cfg.d_lo:
            candidates = [p for p in self._topic_peers.get(topic, ()) if p not in mesh and self._graftable(p, topic, now)]
            for peer in self._sample(candidates, cfg.d - len(mesh)):
                mesh.add(peer)
                self._graft(peer, topic, now)
        if len(mesh) > cfg.d_hi:
            ordered = self._sample(mesh, len(mesh))
            ordered.sort(key=lambda p: scores.get(p, 0.0), reverse=True)
            keep = ordered[: cfg.d_score]
            rest = ordered[cfg.d_score :]
            self._rng.shuffle(rest)
            keep += rest[: cfg.d - len(keep)]
            rest = rest[cfg.d - cfg.d_score :]
            # Keep at least D_out outbound peers: swap outbound ones in from what would be pruned.
            outbound_kept = sum(1 for p in keep if self._peers[p].outbound)
            if outbound_kept < cfg.d_out:
                spare_out = [p for p in rest if self._peers[p].outbound]
                for incoming in spare_out[: cfg.d_out - outbound_kept]:
                    inbound_kept = [p for p in keep[cfg.d_score :] if not self._peers[p].outbound]
                    if not inbound_kept:
                        break
                    keep.remove(inbound_kept[-1])
                    keep.append(incoming)
            for peer in [p for p in mesh if p not in keep]:
                prune(peer)
        if len(mesh) >= cfg.d_lo:
            outbound = sum(1 for p in mesh if self._peers[p].outbound)
            if outbound < cfg.d_out:
                candidates = [
                    p for p in self._topic_peers.get(topic, ())
                    if p not in mesh and self._peers[p].outbound and self._graftable(p, topic, now)
                ]
                for peer in self._sample(candidates, cfg.d_out - outbound):
                    mesh.add(peer)
                    self._graft(peer, topic, now)
        if (
            self.score is not None and self._heartbeats % cfg.opportunistic_graft_ticks == 0 and len(mesh) > 1
        ):
            ranked = sorted(scores.get(p, 0.0) for p in mesh)
            median = ranked[len(ranked) // 2]
            if median < cfg.score_thresholds.opportunistic_graft_threshold:
                candidates = [
                    p for p in self._topic_peers.get(topic, ())
                    if p not in mesh and self._graftable(p, topic, now) and scores.get(p, 0.0) > median
                ]
                for peer in self._sample(candidates, cfg.opportunistic_graft_peers):
                    mesh.add(peer)
                    self._graft(peer, topic, now)

    def _maintain_fanout(self, now: float) -> None:
        cfg = self.config
        threshold = cfg.score_thresholds.publish_threshold
        for topic in list(self._fanout):
            if self._last_publish.get(topic, 0.0) + cfg.fanout_ttl < now:
                del self._fanout[topic]
                self._last_publish.pop(topic, None)
                continue
            fanout = self._fanout[topic]
            topic_peers = self._topic_peers.get(topic, set())
            for peer in [p for p in fanout if p not in topic_peers or self.peer_score(p, now) < threshold]:
                fanout.discard(peer)
            if len(fanout) < cfg.d:
                candidates = [
                    p for p in topic_peers
                    if p not in fanout and self._peers[p].mesh_capable and p not in self.direct_peers
                    and self.peer_score(p, now) >= threshold
                ]
                fanout.update(self._sample(candidates, cfg.d - len(fanout)))

    def _emit_gossip(self, now: float) -> None:
        cfg = self.config
        threshold = cfg.score_thresholds.gossip_threshold
        for topic in [*self._mesh, *self._fanout]:
            ids = self._mcache.gossip_ids(topic)
            if not ids:
                continue
            exclude = self._mesh.get(topic) or self._fanout.get(topic) or set()
            candidates = [
                p for p in self._topic_peers.get(topic, ())
                if p not in exclude and p not in self.direct_peers and self._peers[p].mesh_capable
                and self.peer_score(p, now) >= threshold
            ]
            target = max(cfg.d_lazy, int(cfg.gossip_factor * len(candidates)))
            for peer in self._sample(candidates, target):
                peer_ids = ids
                if len(peer_ids) > cfg.max_ihave_length:
                    peer_ids = self._rng.sample(ids, cfg.max_ihave_length)
                box = self._box(peer)
                box.control.control.ihave.add(topicID=topic.encode(), messageIDs=peer_ids)
                box.has_control = True
                self.stats["ihave_sent"] += 1


def _idontwant_entry(msg_id: bytes) -> bytes:
    """``ControlMessage.idontwant`` (field 5) holding one ``ControlIDontWant`` with ``msg_id``."""
    n = len(msg_id)
    if n < 126:  # both lengths fit one varint byte (the usual from + seqno ids are ~46 bytes)
        return bytes((0x2A, n + 2, 0x0A, n)) + msg_id
    inner = b"\x0a" + varint_encode(n) + msg_id
    return b"\x2a" + varint_encode(len(inner)) + inner
