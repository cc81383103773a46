"""Events of the Noise handshake core (frozen, slotted, past-tense)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # runtime imports would cycle through libp2p._accel (see errors.py)
    from libp2p.identity.keys import PublicKey
    from libp2p.identity.peer_id import PeerId

__all__ = ["HandshakeCompleted", "NoiseEvent"]


@dataclass(frozen=True, slots=True)
class NoiseEvent:
    """Base of the Noise events."""


@dataclass(frozen=True, slots=True)
class HandshakeCompleted(NoiseEvent):
    """The peer is authenticated; call ``NoiseHandshake.transport()`` for the cipher pair.

    ``selected_muxer`` is the early-negotiated muxer, or ``None`` when either side sent no
    muxer list (negotiate the muxer with multistream-select instead).
    """

    remote_peer_id: PeerId
    remote_public_key: PublicKey
    remote_static_key: bytes
    remote_muxers: tuple[str, ...]
    selected_muxer: str | None
    handshake_hash: bytes
