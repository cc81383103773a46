"""Options and constants of the libp2p TLS security channel (``/tls/1.0.0``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["PROTOCOL_ID", "ALPN_LIBP2P", "EXTENSION_OID", "SIGNATURE_PREFIX", "TLSConfig"]

PROTOCOL_ID: Final = "/tls/1.0.0"
#: The ALPN token every libp2p TLS (and QUIC) handshake offers, last after any muxer ids.
ALPN_LIBP2P: Final = "libp2p"
#: The libp2p Public Key Extension (IANA private enterprise number 53594).
EXTENSION_OID: Final = "1.3.6.1.4.1.53594.1.1"
#: What the host key signs, followed by the certificate's DER SubjectPublicKeyInfo.
SIGNATURE_PREFIX: Final = b"libp2p-tls-handshake:"


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """TLS options.

    ``handshake_timeout``: seconds for the whole TLS handshake (go-libp2p bounds the upgrade
    with its 15 s negotiation timeout).
    ``max_handshake_bytes``: the most handshake bytes we buffer from the peer before giving up
    (a libp2p certificate is under 1 KiB; an RSA-4096 host key adds ~600 bytes).
    """

    handshake_timeout: float = 15.0
    max_handshake_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if not self.handshake_timeout > 0:
            raise ValueError(f"handshake_timeout must be positive, not {self.handshake_timeout}")
        if self.max_handshake_bytes < 4096:
            raise ValueError(f"max_handshake_bytes must be at least 4096, not {self.max_handshake_bytes}")
