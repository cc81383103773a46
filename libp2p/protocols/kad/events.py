"""Events of the Kademlia core (``KadCore.next_event()``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from libp2p.identity.peer_id import PeerId
from libp2p.protocols.kad.wire import KadMessage, KadPeer, KadRecord

__all__ = [
    "KadEvent",
    "LookupFinished",
    "LookupKind",
    "LookupResult",
    "LookupStats",
    "PeerCheckRequested",
    "RequestIssued",
    "RoutingTableUpdated",
]


class LookupKind(enum.Enum):
    FIND_NODE = "find_node"
    GET_VALUE = "get_value"
    GET_PROVIDERS = "get_providers"


@dataclass(slots=True)
class LookupStats:
    """How a lookup went. ``hops``: depth at which the closest result was found (a seed is 1)."""

    started: float = 0.0
    finished: float = 0.0
    requests: int = 0
    successes: int = 0
    failures: int = 0
    timeouts: int = 0
    hops: int = 0
    max_hops: int = 0


@dataclass(frozen=True, slots=True)
class LookupResult:
    kind: LookupKind
    key: bytes
    # The closest peers that answered, closest first (at most k).
    closest: tuple[PeerId, ...]
    stats: LookupStats
    # GET_VALUE: every valid record received (sender, record), the chosen one, and the closest
    # peers that answered without it (go corrects them with PUT_VALUE).
    records: tuple[tuple[PeerId | None, KadRecord], ...] = ()
    best: KadRecord | None = None
    outdated: tuple[PeerId, ...] = ()
    # GET_PROVIDERS: providers found (deduplicated).
    providers: tuple[KadPeer, ...] = ()
    # FIND_NODE with a target peer: whether it showed up in an answer.
    target_found: bool = False
    # ... and after how many rounds of answers (0: we already knew it; 1: a first peer named it).
    target_hops: int = 0
    # The lookup ended before the k closest peers all answered (quorum, count or target reached).
    stopped_early: bool = False
    error: str | None = field(default=None)


@dataclass(frozen=True, slots=True)
class KadEvent:
    """Base of Kademlia core events."""


@dataclass(frozen=True, slots=True)
class RequestIssued(KadEvent):
    """The core wants ``message`` sent to ``peer``; report back with ``on_response``/``on_failure``."""

    query_id: int
    peer: PeerId
    message: KadMessage


@dataclass(frozen=True, slots=True)
class LookupFinished(KadEvent):
    query_id: int
    result: LookupResult


@dataclass(frozen=True, slots=True)
class PeerCheckRequested(KadEvent):
    """A full bucket's least-recently-seen peer must prove it is alive (``check_result``)."""

    peer: PeerId


@dataclass(frozen=True, slots=True)
class RoutingTableUpdated(KadEvent):
    peer: PeerId
    added: bool
