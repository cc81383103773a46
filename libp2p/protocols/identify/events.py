"""Events of the identify reader core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent
from libp2p.protocols.identify.wire import IdentifyInfo

if TYPE_CHECKING:
    from libp2p.abc import Connection
    from libp2p.identity.peer_id import PeerId

__all__ = ["IdentifyEvent", "IdentifyReceived", "PeerIdentified"]


@dataclass(frozen=True, slots=True)
class IdentifyEvent:
    """Base of identify events."""


@dataclass(frozen=True, slots=True)
class IdentifyReceived(IdentifyEvent):
    """The remote finished its Identify (the stream ended); ``info`` merges every message."""

    info: IdentifyInfo


@dataclass(frozen=True, slots=True)
class PeerIdentified(HostEvent):
    """On the host's event stream: a peer's identify (``pushed``: identify/push) was applied to the
    peerstore, after its key and signed record were checked."""

    peer_id: PeerId
    info: IdentifyInfo
    connection: Connection
    pushed: bool
