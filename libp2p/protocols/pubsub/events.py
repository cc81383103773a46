"""Events of the pubsub router: the core's output to its service, and the typed join/leave events
the service puts on ``host.events``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.protocols.pubsub.wire import PubsubMessage

__all__ = [
    "ConnectRequested",
    "Grafted",
    "MessageReceived",
    "PeerJoinedTopic",
    "PeerLeftTopic",
    "PubsubEvent",
    "Pruned",
    "ValidationRequested",
]


@dataclass(frozen=True, slots=True)
class PubsubEvent(HostEvent):
    """Base of pubsub events."""


@dataclass(frozen=True, slots=True)
class MessageReceived(PubsubEvent):
    """A new, valid message on a topic we subscribe to (or one we published)."""

    message: PubsubMessage


@dataclass(frozen=True, slots=True)
class ValidationRequested(PubsubEvent):
    """A new message awaits the topic's validators; answer with ``core.report_validation``."""

    message: PubsubMessage


@dataclass(frozen=True, slots=True)
class PeerJoinedTopic(PubsubEvent):
    """A peer announced a subscription to ``topic``."""

    topic: str
    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class PeerLeftTopic(PubsubEvent):
    """A peer unsubscribed from ``topic`` or disconnected."""

    topic: str
    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class Grafted(PubsubEvent):
    """``peer_id`` entered our mesh for ``topic``."""

    topic: str
    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class Pruned(PubsubEvent):
    """``peer_id`` left our mesh for ``topic``."""

    topic: str
    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class ConnectRequested(PubsubEvent):
    """The router wants a connection to ``peer_id`` (peer exchange, or a direct peer that is gone);
    ``signed_peer_record`` is the verified envelope from PX, if any."""

    peer_id: PeerId
    signed_peer_record: bytes | None = None
