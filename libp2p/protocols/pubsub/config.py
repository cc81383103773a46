"""Pubsub options: the router's parameters, the peer-score parameters and thresholds, and the
signature policy. Defaults are go-libp2p-pubsub's where it has one (``DefaultGossipSubParams``)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from libp2p.errors import InvalidArgumentError
from libp2p.protocols.pubsub.wire import DEFAULT_MAX_RPC_SIZE

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.pb import pubsub_pb2

__all__ = [
    "GossipSubConfig",
    "PeerScoreParams",
    "PeerScoreThresholds",
    "SignaturePolicy",
    "TopicScoreParams",
    "ValidationResult",
]


class SignaturePolicy(enum.Enum):
    #: sign every message we publish; require a valid signature (and from/seqno) on every message
    STRICT_SIGN = "strict-sign"
    #: send no from/seqno/signature/key; reject messages that carry any of them
    STRICT_NO_SIGN = "strict-no-sign"


class ValidationResult(enum.Enum):
    ACCEPT = "accept"
    #: invalid: dropped and counted against the peer that sent it (P4)
    REJECT = "reject"
    #: dropped without a penalty (e.g. not interesting, or stale)
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class TopicScoreParams:
    """Per-topic score parameters (P1–P4). Weights of penalties are negative."""

    topic_weight: float = 1.0
    # P1: time in mesh, in quanta, capped
    time_in_mesh_weight: float = 0.01
    time_in_mesh_quantum: float = 1.0
    time_in_mesh_cap: float = 3600.0
    # P2: first deliveries (decaying counter, capped)
    first_message_deliveries_weight: float = 1.0
    first_message_deliveries_decay: float = 0.5
    first_message_deliveries_cap: float = 100.0
    # P3: mesh delivery deficit squared, once the peer has been in the mesh ``activation`` s.
    # Off by default (weight 0): a right threshold depends on the topic's message rate.
    mesh_message_deliveries_weight: float = 0.0
    mesh_message_deliveries_decay: float = 0.5
    mesh_message_deliveries_cap: float = 100.0
    mesh_message_deliveries_threshold: float = 1.0
    mesh_message_deliveries_window: float = 0.01
    mesh_message_deliveries_activation: float = 5.0
    # P3b: sticky deficit penalty added when a peer with a deficit is pruned
    mesh_failure_penalty_weight: float = 0.0
    mesh_failure_penalty_decay: float = 0.5
    # P4: invalid messages, squared
    invalid_message_deliveries_weight: float = -100.0
    invalid_message_deliveries_decay: float = 0.9


def _no_topics() -> Mapping[str, TopicScoreParams]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PeerScoreParams:
    """The v1.1 peer score (P1–P7). ``topics`` maps topic names to their parameters; topics not in it
    use ``default_topic_params`` (None: such topics do not count)."""

    topics: Mapping[str, TopicScoreParams] = field(default_factory=_no_topics)
    default_topic_params: TopicScoreParams | None = TopicScoreParams()
    topic_score_cap: float = 0.0  # 0: no cap on the positive topic part
    # P5
    app_specific_score: Callable[[PeerId], float] | None = None
    app_specific_weight: float = 1.0
    # P6: peers beyond the threshold on one IP, squared; loopback is exempt so local tests and
    # single-machine meshes are not penalised.
    ip_colocation_factor_weight: float = -10.0
    ip_colocation_factor_threshold: float = 10.0
    ip_colocation_factor_whitelist: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # P7: misbehaviour counter (broken IWANT promises, GRAFT during backoff, ...), squared
    behaviour_penalty_weight: float = -10.0
    behaviour_penalty_threshold: float = 0.0
    behaviour_penalty_decay: float = 0.9
    decay_interval: float = 1.0
    decay_to_zero: float = 0.01
    retain_score: float = 3600.0
    # bound on the score records of disconnected peers kept for ``retain_score``
    max_retained_peers: int = 10_000


@dataclass(frozen=True, slots=True)
class PeerScoreThresholds:
    """Below ``gossip_threshold`` no gossip to or from a peer; below ``publish_threshold`` no flood
    publishing to it; below ``graylist_threshold`` its RPCs are ignored; PX is taken only from peers
    at or above ``accept_px_threshold``; opportunistic grafting when the mesh median falls below
    ``opportunistic_graft_threshold``."""

    gossip_threshold: float = -100.0
    publish_threshold: float = -200.0
    graylist_threshold: float = -400.0
    accept_px_threshold: float = 10.0
    opportunistic_graft_threshold: float = 2.0

    def __post_init__(self) -> None:
        if not (self.graylist_threshold < self.publish_threshold <= self.gossip_threshold <= 0):
            raise InvalidArgumentError("thresholds need graylist < publish <= gossip <= 0")
        if self.accept_px_threshold < 0 or self.opportunistic_graft_threshold < 0:
            raise InvalidArgumentError("accept_px_threshold and opportunistic_graft_threshold must be >= 0")


@dataclass(frozen=True, slots=True)
class GossipSubConfig:
    """Router parameters (go-libp2p-pubsub's ``DefaultGossipSubParams`` and options)."""

    d: int = 6
    d_lo: int = 5
    d_hi: int = 12
    d_lazy: int = 6
    d_score: int = 4
    d_out: int = 2
    heartbeat_interval: float = 1.0
    heartbeat_initial_delay: float = 0.1
    fanout_ttl: float = 60.0
    history_length: int = 5  # mcache windows kept
    history_gossip: int = 3  # mcache windows gossiped
    seen_ttl: float = 120.0
    max_seen_messages: int = 1 << 18
    gossip_factor: float = 0.25
    gossip_retransmission: int = 3
    max_ihave_length: int = 5000
    max_ihave_messages: int = 10
    max_iwant_promises: int = 5000  # IWANT promises tracked at once (all peers)
    iwant_followup_time: float = 3.0
    # Ours, not go's: after a broken IWANT promise a peer's IHAVEs are ignored for 1 heartbeat,
    # doubling with each further broken promise (no kept one between) up to this many seconds;
    # a kept promise resets it. It never touches the score. 0: go's behaviour (ask every heartbeat).
    broken_promise_backoff_max: float = 64.0
    prune_peers: int = 16
    prune_backoff: float = 60.0
    unsubscribe_backoff: float = 10.0
    graft_flood_threshold: float = 10.0
    opportunistic_graft_ticks: int = 60
    opportunistic_graft_peers: int = 2
    direct_connect_ticks: int = 300
    # direct peers as ``/…/p2p/<id>`` multiaddrs: always forwarded to, never in the mesh
    direct_peers: tuple[str, ...] = ()
    flood_publish: bool = True
    do_px: bool = True
    # v1.2 IDONTWANT
    idontwant_message_size_threshold: int = 1024
    max_idontwant_messages: int = 1000  # IDONTWANT ids kept per peer
    max_idontwant_length: int = 10  # ids we put in one IDONTWANT
    idontwant_ttl_heartbeats: int = 3
    max_rpc_size: int = DEFAULT_MAX_RPC_SIZE
    # None: ``from || seqno`` under StrictSign (go's default), SHA-256 of the data under
    # StrictNoSign (js-libp2p's default there; from and seqno are absent). All peers on a topic
    # must use the same function.
    message_id_fn: Callable[[pubsub_pb2.Message], bytes] | None = None
    # called with (sender, message) for every message of every RPC received, duplicates and
    # invalid ones included, before any check (go's RawTracer.RecvRPC): for measurements such as
    # the test-plans gossipsub-interop logs. It must not raise; keep it cheap.
    received_message_tracer: Callable[[PeerId, pubsub_pb2.Message], None] | None = None
    # validation: at most this many messages in validation at once (go: 8192 throttle); the rest
    # are dropped (ignored, not penalised); a validator slower than the timeout counts as IGNORE
    max_pending_validations: int = 1024
    validation_timeout: float = 10.0
    # subscriptions a single peer may hold (a flood of SUBSCRIBEs beyond it is refused)
    max_peer_subscriptions: int = 1000
    # scoring (None: off)
    score_params: PeerScoreParams | None = PeerScoreParams()
    score_thresholds: PeerScoreThresholds = PeerScoreThresholds()

    def __post_init__(self) -> None:
        if not (0 < self.d_lo <= self.d <= self.d_hi):
            raise InvalidArgumentError("need 0 < d_lo <= d <= d_hi")
        if not (0 <= self.d_out < self.d_lo and self.d_out <= self.d // 2):
            raise InvalidArgumentError("need d_out < d_lo and d_out <= d/2")
        if not (0 < self.history_gossip <= self.history_length):
            raise InvalidArgumentError("need 0 < history_gossip <= history_length")
        if self.max_rpc_size < 1024:
            raise InvalidArgumentError("max_rpc_size below 1 KiB")
