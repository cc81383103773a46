"""Errors of the libp2p TLS security channel (also raised by the QUIC transport's handshake)."""

from __future__ import annotations

from libp2p import errors
from libp2p.errors import DecodeError, InvalidSignatureError, RemoteProtocolError, SecurityError

__all__ = [
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeoutError",
    "CertificateError",
    "MissingCertificateError",
    "CertificateChainError",
    "CertificateExpiredError",
    "MalformedCertificateError",
    "MissingExtensionError",
    "DuplicateExtensionError",
    "UnknownCriticalExtensionError",
    "InvalidCertificateSignatureError",
    "InvalidSignedKeyError",
    "PeerIdMismatchError",
]


class TLSError(SecurityError):
    """Root of the TLS errors."""


class TLSHandshakeError(TLSError, RemoteProtocolError):
    """The TLS handshake failed (an alert, a closed connection, no common ALPN protocol)."""


class TLSHandshakeTimeoutError(TLSHandshakeError):
    """The TLS handshake did not complete in time."""


class CertificateError(TLSHandshakeError):
    """The peer's certificate breaks the libp2p TLS rules; the connection is refused."""


class MissingCertificateError(CertificateError):
    """The peer sent no certificate (a server MUST require one from the client)."""


class CertificateChainError(CertificateError):
    """The peer sent more than one certificate; libp2p allows exactly one, self-signed."""


class CertificateExpiredError(CertificateError):
    """The certificate is not valid now (before NotBefore or after NotAfter)."""


class MalformedCertificateError(CertificateError, DecodeError):
    """The certificate or its SignedKey extension cannot be decoded."""


class MissingExtensionError(CertificateError):
    """The certificate lacks the libp2p Public Key Extension."""


class DuplicateExtensionError(CertificateError, DecodeError):
    """The certificate carries an extension (the libp2p one, or another) more than once."""


class UnknownCriticalExtensionError(CertificateError):
    """The certificate has a critical extension we do not understand."""


class InvalidCertificateSignatureError(CertificateError, InvalidSignatureError):
    """The certificate is not self-signed by its own key."""


class InvalidSignedKeyError(CertificateError, InvalidSignatureError):
    """The host key's signature in the extension does not cover this certificate's key."""


class PeerIdMismatchError(TLSError, errors.PeerIdMismatchError):
    """The peer authenticated as a different peer ID than the one dialed (``/p2p/X`` reached Y)."""
