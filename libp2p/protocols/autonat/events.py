"""Events of AutoNAT v1 (the reachability itself is the host's ``LocalReachabilityChanged``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId

__all__ = ["AutonatProbed", "AutonatDialRequested"]


@dataclass(frozen=True, slots=True)
class AutonatProbed(HostEvent):
    """We asked ``server`` to dial us back; ``status`` is its answer (a ``ResponseStatus``), or
    None when it did not answer."""

    server: PeerId
    status: int | None


@dataclass(frozen=True, slots=True)
class AutonatDialRequested(HostEvent):
    """We (a server) answered ``peer``'s dial request with ``status``."""

    peer_id: PeerId
    status: int
