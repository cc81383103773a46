"""libp2p TLS 1.3 security channel ``/tls/1.0.0`` (libp2p/specs ``tls/tls.md``).

``certificate`` makes and checks the libp2p certificate (also used by the QUIC transport);
``TLSHandshake`` (sans-IO, on pyOpenSSL memory BIOs) runs the handshake with early muxer
negotiation through ALPN; ``TLS`` is the security option the upgrader takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libp2p.security.tls.config import ALPN_LIBP2P, EXTENSION_OID, PROTOCOL_ID, TLSConfig
from libp2p.security.tls.errors import (
    CertificateChainError,
    CertificateError,
    CertificateExpiredError,
    DuplicateExtensionError,
    InvalidCertificateSignatureError,
    InvalidSignedKeyError,
    MalformedCertificateError,
    MissingCertificateError,
    MissingExtensionError,
    PeerIdMismatchError,
    TLSError,
    TLSHandshakeError,
    TLSHandshakeTimeoutError,
    UnknownCriticalExtensionError,
)

if TYPE_CHECKING:
    from libp2p.security.tls.service import TLS, TLSSession

__all__ = [
    "ALPN_LIBP2P",
    "EXTENSION_OID",
    "PROTOCOL_ID",
    "TLS",
    "TLSConfig",
    "TLSSession",
    "CertificateChainError",
    "CertificateError",
    "CertificateExpiredError",
    "DuplicateExtensionError",
    "InvalidCertificateSignatureError",
    "InvalidSignedKeyError",
    "MalformedCertificateError",
    "MissingCertificateError",
    "MissingExtensionError",
    "PeerIdMismatchError",
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeoutError",
    "UnknownCriticalExtensionError",
]


def __getattr__(name: str) -> Any:
    # pyOpenSSL loads only when TLS is used.
    if name in ("TLS", "TLSSession"):
        from libp2p.security.tls import service

        value = getattr(service, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
