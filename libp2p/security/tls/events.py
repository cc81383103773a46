"""Events of the TLS handshake core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libp2p.identity.keys import PublicKey
    from libp2p.identity.peer_id import PeerId

__all__ = ["TLSEvent", "HandshakeCompleted"]


class TLSEvent:
    """Base of the TLS events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HandshakeCompleted(TLSEvent):
    """Both sides authenticated: the remote's host key, and the muxer chosen through ALPN
    (``None`` when ALPN settled on plain ``libp2p``: negotiate the muxer with multistream)."""

    remote_peer_id: PeerId
    remote_public_key: PublicKey
    selected_muxer: str | None
