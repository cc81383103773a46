"""What mDNS discovery reports. ``PeerDiscovered`` also goes out on ``host.events``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.host.events import HostEvent

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["PeerDiscovered"]


@dataclass(frozen=True, slots=True)
class PeerDiscovered(HostEvent):
    """A peer answered on the local network with these addresses (each ends in ``/p2p/<id>``)."""

    peer_id: PeerId
    addrs: tuple[Multiaddr, ...]
