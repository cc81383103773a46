"""Options of the Noise security channel."""

from __future__ import annotations

from libp2p.errors import InvalidArgumentError

from dataclasses import dataclass
from typing import Final

__all__ = ["PROTOCOL_ID", "NoiseConfig"]

PROTOCOL_ID: Final = "/noise"


@dataclass(frozen=True, slots=True)
class NoiseConfig:
    """Noise options.

    ``max_handshake_message``: the largest handshake message we accept (u16 framing caps it
    at 65535; lower it to bound memory further — our own msg2/msg3 are a few hundred bytes
    with Ed25519 and ~700 with RSA-2048).
    ``handshake_timeout``: seconds from the ``now`` given to ``NoiseHandshake`` to completion
    (go-libp2p bounds the whole upgrade with a 15 s negotiation timeout; a bare Noise
    handshake needs 1.5 RTT).
    """

    max_handshake_message: int = 65535
    handshake_timeout: float = 15.0

    def __post_init__(self) -> None:
        if not 96 <= self.max_handshake_message <= 65535:
            # 96 = e + enc(s) + tag: the smallest valid message 2.
            raise InvalidArgumentError(f"max_handshake_message must be 96..65535, not {self.max_handshake_message}")
        if not self.handshake_timeout > 0:
            raise InvalidArgumentError(f"handshake_timeout must be positive, not {self.handshake_timeout}")
