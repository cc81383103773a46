"""What a host knows about other peers: addresses with TTLs, keys, protocols, agent, records."""

from libp2p.peerstore.memory import (
    ADDRESS_TTL,
    CONNECTED_ADDR_TTL,
    PERMANENT_ADDR_TTL,
    RECENTLY_CONNECTED_ADDR_TTL,
    TEMP_ADDR_TTL,
    PeerInfo,
    Peerstore,
)

__all__ = [
    "ADDRESS_TTL",
    "CONNECTED_ADDR_TTL",
    "PERMANENT_ADDR_TTL",
    "RECENTLY_CONNECTED_ADDR_TTL",
    "TEMP_ADDR_TTL",
    "PeerInfo",
    "Peerstore",
]
