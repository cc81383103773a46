"""The libp2p TLS 1.3 handshake and record layer, sans-IO, on pyOpenSSL memory BIOs.

``TLSHandshake`` takes the peer's bytes in ``receive_data`` and gives ours out in
``data_to_send``; when ``complete`` it holds a ``HandshakeCompleted`` event and ``session()``
hands out the record layer (``TLSRecords``: ``encrypt``/``decrypt``), as the Noise core does.

Both sides present a fresh certificate (``certificate.generate_certificate``); the server
requires the client's. OpenSSL's own verification is replaced by the libp2p rules: the verify
callback runs ``verify_certificate`` on the leaf and refuses any longer chain, so a bad client
certificate makes the server send an alert before the client sees a working connection.
Early muxer negotiation rides on ALPN: the client offers its muxers then ``libp2p``; the server
picks the first of the client's it supports (``libp2p`` itself means "negotiate afterwards").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from OpenSSL import SSL, crypto

from libp2p.errors import Libp2pError
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls.certificate import VerifiedPeer, generate_certificate, verify_certificate, verify_certificate_chain
from libp2p.security.tls.config import ALPN_LIBP2P, TLSConfig
from libp2p.security.tls.errors import (
    CertificateChainError,
    CertificateError,
    MissingCertificateError,
    PeerIdMismatchError,
    TLSError,
    TLSHandshakeError,
)
from libp2p.security.tls.events import HandshakeCompleted

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey

__all__ = ["Credentials", "TLSHandshake", "TLSRecords", "alpn_offer", "select_alpn"]

_ALPN = ALPN_LIBP2P.encode()
CertificateKey: TypeAlias = "ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey"
# One bio_read/recv call takes at most this much; loops drain the rest.
_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Credentials:
    """What we present: a certificate, its key, and (only to test peers' checks) extra chain
    certificates; ``certificate=None`` presents none. Normally made fresh per connection."""

    certificate: x509.Certificate | None
    key: CertificateKey | None
    extra_chain: tuple[x509.Certificate, ...] = ()


def alpn_offer(muxers: Sequence[str]) -> list[bytes]:
    """The client's ALPN list: muxers in preference order, then ``libp2p`` (which MUST be last)."""
    return [m.encode() for m in muxers if m != ALPN_LIBP2P] + [_ALPN]


def select_alpn(offered: Sequence[bytes], muxers: Sequence[str]) -> bytes | None:
    """The server's pick: the first offered protocol it supports (``libp2p`` included), or None."""
    supported = {m.encode() for m in muxers}
    supported.add(_ALPN)
    for proto in offered:
        if proto in supported:
            return proto
    return None


def _drain_bio(conn: SSL.Connection) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = conn.bio_read(_CHUNK)
        except SSL.WantReadError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _ssl_error(exc: SSL.Error) -> str:
    if exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        return "; ".join(str(e[-1]) for e in exc.args[0])
    return str(exc) or type(exc).__name__


class TLSRecords:
    """The record layer of a finished handshake (what ``TLSSession`` wraps)."""

    def __init__(self, conn: SSL.Connection) -> None:
        self._conn = conn
        #: the peer sent close_notify
        self.closed_by_peer = False

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytes:
        """TLS records carrying ``data``, plus anything OpenSSL queued (a KeyUpdate reply)."""
        if data:
            try:
                self._conn.sendall(bytes(data))
            except SSL.Error as exc:
                raise TLSError(f"TLS write failed: {_ssl_error(exc)}") from None
        return _drain_bio(self._conn)

    def decrypt(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The plaintext of every complete record in ``data`` (and earlier partial records)."""
        if data:
            self._conn.bio_write(bytes(data))
        out: list[bytes] = []
        while not self.closed_by_peer:
            try:
                chunk = self._conn.recv(_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.closed_by_peer = True
                break
            except SSL.Error as exc:
                # An alert after our side finished: the server refused our certificate, typically.
                raise TLSHandshakeError(f"TLS connection failed: {_ssl_error(exc)}") from None
            if not chunk:
                break
            out.append(chunk)
        return out

    def pending_output(self) -> bytes:
        return _drain_bio(self._conn)


class TLSHandshake:
    """One side of a libp2p TLS handshake."""

    def __init__(
        self,
        is_initiator: bool,
        identity_key: PrivateKey,
        *,
        remote_peer_id: PeerId | None,
        muxers: Sequence[str],
        now: dt.datetime,
        config: TLSConfig | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.is_initiator = is_initiator
        self.config = config or TLSConfig()
        self._expected = remote_peer_id
        self._muxers = tuple(muxers)
        self._now = now
        self._received = 0
        self._verified: VerifiedPeer | None = None
        self._failure: Libp2pError | None = None
        self.completed_event: HandshakeCompleted | None = None
        self._event_taken = False
        self.pending_plaintext: list[bytes] = []

        if credentials is None:
            credentials = Credentials(*generate_certificate(identity_key, now))
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
        ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
        if credentials.certificate is not None and credentials.key is not None:
            ctx.use_certificate(credentials.certificate)
            ctx.use_privatekey(credentials.key)
            for extra in credentials.extra_chain:
                ctx.add_extra_chain_cert(extra)
        # A session ticket would only ever be offered back to another fresh certificate.
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verify)
        if is_initiator:
            ctx.set_alpn_protos(alpn_offer(self._muxers))
        else:
            ctx.set_alpn_select_callback(self._select_alpn)
        self._conn = SSL.Connection(ctx, None)
        if is_initiator:
            self._conn.set_connect_state()  # and no SNI: the spec forbids it
        else:
            self._conn.set_accept_state()
        self._step()

    # --- OpenSSL callbacks -------------------------------------------------------------------

    def _verify(self, conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        """Replaces CA verification by the libp2p rules; called per certificate and error."""
        try:
            if depth > 0:
                raise CertificateChainError("the peer sent a certificate chain; libp2p allows exactly one certificate")
            if self._verified is None:
                self._verified = verify_certificate(cert.to_cryptography(), self._now)
            return True
        except CertificateError as exc:
            if self._failure is None:
                self._failure = exc
            return False

    def _select_alpn(self, conn: SSL.Connection, offered: list[bytes]) -> bytes:
        chosen = select_alpn(offered, self._muxers)
        if chosen is None:
            # Raised out of the callback, pyOpenSSL sends a fatal alert and re-raises it here.
            self._failure = TLSHandshakeError(f"no common ALPN protocol in {offered!r}; libp2p requires 'libp2p'")
            raise self._failure
        return chosen

    # --- the sans-IO face ---------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self.completed_event is not None

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if self.complete:
            raise TLSError("handshake already complete")
        self._received += len(data)
        if data:
            self._conn.bio_write(bytes(data))
        self._step()
        # Checked after the step: the read that completes the handshake may carry any amount of
        # application data behind the peer's Finished (it stays in the record layer).
        if not self.complete and self._received > self.config.max_handshake_bytes:
            raise TLSHandshakeError(f"TLS handshake exceeded {self.config.max_handshake_bytes} bytes")

    def data_to_send(self) -> bytes:
        return _drain_bio(self._conn)

    def next_event(self) -> HandshakeCompleted | None:
        if self.completed_event is None or self._event_taken:
            return None
        self._event_taken = True
        return self.completed_event

    def session(self) -> TLSRecords:
        if not self.complete:
            raise TLSError("handshake not complete")
        return self._records

    def _step(self) -> None:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            return
        except SSL.Error as exc:
            if self._failure is not None:
                raise self._failure from None
            reason = _ssl_error(exc)
            if "peer did not return a certificate" in reason:
                raise MissingCertificateError("the peer sent no certificate") from None
            raise TLSHandshakeError(f"TLS handshake failed: {reason}") from None
        self._finish()

    def _finish(self) -> None:
        conn = self._conn
        if conn.get_protocol_version_name() != "TLSv1.3":
            raise TLSHandshakeError(f"negotiated {conn.get_protocol_version_name()}, libp2p requires TLS 1.3")
        # The whole chain as sent: on the server side OpenSSL leaves the leaf out of it.
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        leaf = conn.get_peer_certificate(as_cryptography=True)
        if leaf is None:
            raise MissingCertificateError("the peer sent no certificate")
        if not self.is_initiator:
            chain = [leaf, *chain]
        verified = verify_certificate_chain(chain, self._now)
        if self._expected is not None and verified.peer_id != self._expected:
            raise PeerIdMismatchError(self._expected, verified.peer_id)
        alpn = conn.get_alpn_proto_negotiated()
        if not alpn:
            raise TLSHandshakeError("the peer did not agree on ALPN 'libp2p'")
        protocol = alpn.decode("ascii", "replace")
        muxer = None if protocol == ALPN_LIBP2P else protocol
        if muxer is not None and muxer not in self._muxers:
            raise TLSHandshakeError(f"the server chose ALPN {protocol!r}, which we did not offer")
        self._records = TLSRecords(conn)
        # Application data that came in the same read as the last handshake message.
        self.pending_plaintext = self._records.decrypt(b"")
        self.completed_event = HandshakeCompleted(verified.peer_id, verified.public_key, muxer)
