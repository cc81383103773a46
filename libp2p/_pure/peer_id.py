"""The equality, hash and order of a peer ID: the pure-Python twin of ``_native/peer_id.pxi``.

``PeerId`` (``libp2p.identity.peer_id``) builds on ``PeerIdCore``. Peer IDs key the host's
tables (connections, peerstore, resource scopes), hashed and compared several times per
connection; the compiled twin does that without a Python call.
"""

from __future__ import annotations

__all__ = ["PeerIdCore"]


class PeerIdCore:
    """Equal, hashed and ordered by ``_bytes`` (the multihash); compared only with its own kind."""

    __slots__ = ("_bytes",)

    _bytes: bytes

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PeerIdCore):
            return self._bytes == other._bytes
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, PeerIdCore):
            return self._bytes != other._bytes
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PeerIdCore):
            return NotImplemented
        return self._bytes < other._bytes

    def __le__(self, other: object) -> bool:
        if not isinstance(other, PeerIdCore):
            return NotImplemented
        return self._bytes <= other._bytes

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, PeerIdCore):
            return NotImplemented
        return self._bytes > other._bytes

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, PeerIdCore):
            return NotImplemented
        return self._bytes >= other._bytes
