"""Events of DCUtR: the sans-IO cores' events and the host events of the service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["DcutrEvent", "DialNow", "HolePunchSucceeded", "HolePunchFailed"]


@dataclass(frozen=True, slots=True)
class DcutrEvent:
    """Base of the cores' events."""


@dataclass(frozen=True, slots=True)
class DialNow(DcutrEvent):
    """Dial ``addrs`` now (the simultaneous open); ``rtt`` measured by the initiator, if known."""

    addrs: tuple[Multiaddr, ...]
    rtt: float | None = None


@dataclass(frozen=True, slots=True)
class HolePunchSucceeded(HostEvent):
    """A direct connection to ``peer_id`` replaced the relayed one, at ``addr`` on attempt ``attempt``."""

    peer_id: PeerId
    addr: Multiaddr
    attempt: int


@dataclass(frozen=True, slots=True)
class HolePunchFailed(HostEvent):
    """Every attempt to reach ``peer_id`` directly failed."""

    peer_id: PeerId
    attempts: int
    reason: str
