"""Events of circuit relay v2, on the host's event stream (``host.events``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = [
    "RelayEvent",
    "ReservationAccepted",
    "ReservationRefused",
    "CircuitOpened",
    "CircuitRefused",
    "CircuitClosed",
    "ReservationMade",
    "ReservationLost",
]


@dataclass(frozen=True, slots=True)
class RelayEvent(HostEvent):
    """Base of relay events."""


# --- the relay (hop service) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReservationAccepted(RelayEvent):
    """We (the relay) accepted or refreshed ``peer``'s reservation until ``expire`` (unix s)."""

    peer_id: PeerId
    expire: int
    refreshed: bool


@dataclass(frozen=True, slots=True)
class ReservationRefused(RelayEvent):
    """We (the relay) refused a reservation with ``status`` (a ``Status`` value)."""

    peer_id: PeerId
    status: int


@dataclass(frozen=True, slots=True)
class CircuitOpened(RelayEvent):
    """We (the relay) spliced a circuit from ``source`` to ``target``."""

    source: PeerId
    target: PeerId


@dataclass(frozen=True, slots=True)
class CircuitRefused(RelayEvent):
    """We (the relay) refused ``source``'s circuit to ``target`` with ``status``."""

    source: PeerId
    target: PeerId
    status: int


@dataclass(frozen=True, slots=True)
class CircuitClosed(RelayEvent):
    """A circuit we relayed ended; ``reason``: "closed", "data limit", "duration limit" or "error".
    ``relayed``: bytes carried source→target and target→source."""

    source: PeerId
    target: PeerId
    reason: str
    relayed: tuple[int, int]


# --- the client --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReservationMade(RelayEvent):
    """We hold (or refreshed) a reservation on ``relay`` until ``expire`` (unix s); ``addrs`` are
    our relayed addresses through it."""

    relay: PeerId
    expire: int
    addrs: tuple[Multiaddr, ...]


@dataclass(frozen=True, slots=True)
class ReservationLost(RelayEvent):
    """Our reservation on ``relay`` ended (the relay went away, refused the refresh, or expired)."""

    relay: PeerId
    reason: str
