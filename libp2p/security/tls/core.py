"""The libp2p TLS 1.3 handshake and record layer, sans-IO, on pyOpenSSL memory BIOs.

``TLSHandshake`` takes the peer's bytes in ``receive_data`` and gives ours out in
``data_to_send``; when ``complete`` it holds a ``HandshakeCompleted`` event and ``session()``
hands out the record layer (``TLSRecords``: ``encrypt``/``decrypt``), as the Noise core does.

Both sides present their host's certificate (``TLSIdentity``: made once per host identity, with
one OpenSSL context around it, as go-libp2p does); the server requires the client's. OpenSSL's
own verification is replaced by the libp2p rules: the verify callback runs ``verify_certificate``
on the leaf and refuses any longer chain, so a bad client certificate makes the server send an
alert before the client sees a working connection.
Early muxer negotiation rides on ALPN: the client offers its muxers then ``libp2p``; the server
picks the first of the client's it supports (``libp2p`` itself means "negotiate afterwards").

The record layer calls OpenSSL directly through the cffi binding pyOpenSSL itself uses
(``_DirectRecords``: per encrypt one ``SSL_write`` and ``BIO_read`` per 16 KiB record; per
decrypt ``BIO_write`` in slices of at most 32 KiB and ``SSL_read`` until OpenSSL wants more, all
plaintext into one buffer): pyOpenSSL's methods cost ~25 Python calls, a raised ``WantReadError``
and a 256 KiB allocation per record. Where that binding is not there it uses pyOpenSSL's public
methods (``TLSRecords``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from OpenSSL import SSL, crypto

from libp2p.errors import Libp2pError
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls.certificate import (
    CERTIFICATE_LIFETIME,
    HostCertificate,
    VerifiedPeer,
    verify_certificate,
    verify_certificate_chain,
)
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

__all__ = ["Credentials", "TLSHandshake", "TLSIdentity", "TLSRecords", "alpn_offer", "select_alpn"]

_ALPN = ALPN_LIBP2P.encode()
CertificateKey: TypeAlias = "ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey"
# One bio_read/recv call takes at most this much; loops drain the rest.
_CHUNK = 256 * 1024
# The most plaintext one TLS record carries, and what a record adds to it in TLS 1.3 (5-byte
# header, inner content type, 16-byte AEAD tag; we send no padding).
_MAX_RECORD_PLAINTEXT = 16384
_RECORD_OVERHEAD = 22
# The most received bytes put into OpenSSL's memory BIO at once (see ``_DirectRecords.decrypt``).
_BIO_SLICE = 32 * 1024

try:  # the cffi binding (cryptography's) under pyOpenSSL: the record layer's fast path
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _SSL_write, _SSL_read, _SSL_get_error = _lib.SSL_write, _lib.SSL_read, _lib.SSL_get_error
    _BIO_read, _BIO_write = _lib.BIO_read, _lib.BIO_write
    _WANT_READ, _ZERO_RETURN = _lib.SSL_ERROR_WANT_READ, _lib.SSL_ERROR_ZERO_RETURN
    _new_buffer = _ffi.new_allocator(should_clear_after_alloc=False)
    _unpack = _ffi.unpack
    _from_buffer = _ffi.from_buffer
    _DIRECT = True
except (ImportError, AttributeError):  # pragma: no cover - a pyOpenSSL without it
    _DIRECT = False


@dataclass(frozen=True, slots=True)
class Credentials:
    """What we present: a certificate, its key, and (only to test peers' checks) extra chain
    certificates; ``certificate=None`` presents none. Tests use it to present bad certificates;
    hosts present their ``TLSIdentity``."""

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


def _new_context(credentials: Credentials) -> SSL.Context:
    """An OpenSSL context for libp2p TLS 1.3 presenting ``credentials``; its callbacks find the
    handshake through the connection's app data, so one context serves every connection."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    if credentials.certificate is not None and credentials.key is not None:
        ctx.use_certificate(credentials.certificate)
        ctx.use_privatekey(credentials.key)
        for extra in credentials.extra_chain:
            ctx.add_extra_chain_cert(extra)
    # OpenSSL's record buffers (~28 KiB a connection) are freed while the connection is idle.
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    # No resumption (go-libp2p disables session tickets too): a resumed session would skip the
    # certificate checks, and a shared context must not collect a server-side session cache.
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_callback)
    ctx.set_alpn_select_callback(_alpn_callback)
    return ctx


def _verify_callback(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
    handshake = conn.get_app_data()
    return isinstance(handshake, TLSHandshake) and handshake._verify(cert, depth)


def _alpn_callback(conn: SSL.Connection, offered: list[bytes]) -> bytes:
    handshake = conn.get_app_data()
    if not isinstance(handshake, TLSHandshake):
        raise TLSHandshakeError("TLS connection without its handshake")
    return handshake._select_alpn(offered)


class TLSIdentity:
    """What a host presents in every TLS handshake, made once: its certificate
    (``HostCertificate``, renewed before it expires) and one OpenSSL context around it.

    go-libp2p makes its certificate once per identity and clones one ``tls.Config`` per
    handshake; a fresh certificate and context per connection cost us ~0.5 ms a handshake.
    """

    __slots__ = ("identity_key", "host_certificate", "_context", "_generation")

    def __init__(self, identity_key: PrivateKey, *, lifetime: dt.timedelta = CERTIFICATE_LIFETIME) -> None:
        self.identity_key = identity_key
        self.host_certificate = HostCertificate(identity_key, lifetime=lifetime)
        self._context: SSL.Context | None = None
        self._generation = -1

    def context(self, now: dt.datetime) -> SSL.Context:
        """The context to start a handshake at ``now`` with (rebuilt when the certificate is)."""
        certificate, key = self.host_certificate.current(now)
        if self._context is None or self._generation != self.host_certificate.generation:
            self._context = _new_context(Credentials(certificate, key))
            self._generation = self.host_certificate.generation
        return self._context


class TLSRecords:
    """The record layer of a finished handshake (what ``TLSSession`` wraps), through pyOpenSSL's
    public methods; ``records_for`` gives the faster ``_DirectRecords`` where it can."""

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


def records_for(conn: SSL.Connection) -> TLSRecords:
    """The record layer of ``conn``'s finished handshake: the direct one where it can be."""
    if _DIRECT and getattr(conn, "_ssl", None) is not None and getattr(conn, "_into_ssl", None) is not None:
        return _DirectRecords(conn)
    return TLSRecords(conn)


class _DirectRecords(TLSRecords):
    """The record layer through the cffi binding: a few C calls per write or read, no per-record
    Python work. Holds the ``SSL.Connection`` so its SSL object and BIOs stay alive."""

    def __init__(self, conn: SSL.Connection) -> None:
        super().__init__(conn)
        self._ssl = conn._ssl
        self._into_ssl = conn._into_ssl
        self._from_ssl = conn._from_ssl

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytes:
        """TLS records carrying ``data``, plus anything OpenSSL queued (a KeyUpdate reply)."""
        size = len(data)
        ssl, bio = self._ssl, self._from_ssl
        room = size + (size // _MAX_RECORD_PLAINTEXT + 1) * _RECORD_OVERHEAD + 256
        if size <= _MAX_RECORD_PLAINTEXT:
            if size:
                written = _SSL_write(ssl, data if isinstance(data, bytes) else _from_buffer(data), size)
                if written != size:
                    raise TLSError(f"TLS write failed: {_error_queue_reason(ssl, written)}")
            return _drain_direct(bio, room)
        # pyOpenSSL sets SSL_MODE_ENABLE_PARTIAL_WRITE: each call writes one record, taken out of
        # the memory BIO at once, so the BIO never holds more than a record (it keeps its size)
        source = _from_buffer(data)
        buf = _new_buffer("char[]", room)
        written = filled = 0
        while written < size:
            count = _SSL_write(ssl, source + written, size - written)
            if count <= 0:
                raise TLSError(f"TLS write failed: {_error_queue_reason(ssl, count)}")
            written += count
            got = _BIO_read(bio, buf + filled, room - filled)
            if got > 0:
                filled += got
        out: bytes = _unpack(buf, filled)
        if filled == room:  # more than the records (queued post-handshake messages): the rest
            out += _drain_direct(bio, 4096)
        return out

    def decrypt(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The plaintext of every complete record in ``data`` (and earlier partial records), as
        one chunk (or none)."""
        if self.closed_by_peer:
            return []
        size = len(data)
        into, ssl = self._into_ssl, self._ssl
        # the plaintext of what arrived, and of at most one record held back from before
        room = size + _MAX_RECORD_PLAINTEXT + 256
        buf = _new_buffer("char[]", room)
        filled = 0
        out: list[bytes] = []
        # A big read goes into the memory BIO a slice at a time, its records decrypted between
        # slices: the BIO keeps the largest size it ever held, for the connection's lifetime.
        source: Any = data if isinstance(data, bytes) and size <= _BIO_SLICE else _from_buffer(data)
        offset = 0
        while True:
            if offset < size:
                piece = size - offset
                if piece > _BIO_SLICE:
                    piece = _BIO_SLICE
                if _BIO_write(into, source + offset if offset else source, piece) != piece:
                    raise TLSError("TLS read buffer refused the data")
                offset += piece
            while True:
                got = _SSL_read(ssl, buf + filled, room - filled)
                if got > 0:
                    filled += got
                    if filled == room:
                        out.append(_unpack(buf, filled))
                        filled = 0
                    continue
                error = _SSL_get_error(ssl, got)
                if error == _WANT_READ:
                    break
                if error == _ZERO_RETURN:
                    self.closed_by_peer = True
                    break
                # An alert after our side finished: the server refused our certificate, typically.
                raise TLSHandshakeError(f"TLS connection failed: {_error_queue_reason(ssl, got)}")
            if offset >= size or self.closed_by_peer:
                break
        if filled:
            out.append(_unpack(buf, filled))
        return out

    def pending_output(self) -> bytes:
        return _drain_direct(self._from_ssl, 4096)


def _drain_direct(bio: object, size: int) -> bytes:
    """Everything in OpenSSL's outgoing memory BIO, read ``size`` bytes at a time (one read when
    ``size`` covers it)."""
    buf = _new_buffer("char[]", size)
    got = _BIO_read(bio, buf, size)
    if got <= 0:
        return b""
    if got < size:
        once: bytes = _unpack(buf, got)
        return once
    chunks = [_unpack(buf, got)]
    while got == size:
        got = _BIO_read(bio, buf, size)
        if got > 0:
            chunks.append(_unpack(buf, got))
    return b"".join(chunks)


def _error_queue_reason(ssl: object, result: int) -> str:
    """What OpenSSL's error queue says about a failed call (and empties the queue)."""
    from OpenSSL._util import exception_from_error_queue

    code = _SSL_get_error(ssl, result)
    try:
        exception_from_error_queue(SSL.Error)
    except SSL.Error as exc:
        if exc.args and exc.args[0]:
            return _ssl_error(exc)
    return f"SSL error {code}"


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
        identity: TLSIdentity | None = None,
    ) -> None:
        """``identity``: the host's certificate and context, made once (``TLSIdentity``); without
        it one is made for this handshake. ``credentials`` (tests) presents other certificates."""
        self.is_initiator = is_initiator
        self.config = config or TLSConfig()
        self._expected = remote_peer_id
        self._muxers = tuple(muxers)
        self._now = now
        self._received = 0
        self._verified: VerifiedPeer | None = None
        self._verified_der = b""
        self._failure: Libp2pError | None = None
        self.completed_event: HandshakeCompleted | None = None
        self._event_taken = False
        self.pending_plaintext: list[bytes] = []

        if credentials is not None:
            ctx = _new_context(credentials)
        else:
            if identity is None:
                identity = TLSIdentity(identity_key)
            elif identity.identity_key != identity_key:
                raise TLSError("the TLS identity belongs to another host key")
            ctx = identity.context(now)
        self._conn = SSL.Connection(ctx, None)
        self._conn.set_app_data(self)
        if is_initiator:
            self._conn.set_alpn_protos(alpn_offer(self._muxers))
            self._conn.set_connect_state()  # and no SNI: the spec forbids it
        else:
            self._conn.set_accept_state()
        self._step()

    # --- OpenSSL callbacks -------------------------------------------------------------------

    def _verify(self, cert: crypto.X509, depth: int) -> bool:
        """Replaces CA verification by the libp2p rules; called per certificate and error."""
        try:
            if depth > 0:
                raise CertificateChainError("the peer sent a certificate chain; libp2p allows exactly one certificate")
            if self._verified is None:
                der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
                self._verified = verify_certificate(der, self._now)
                self._verified_der = der
            return True
        except CertificateError as exc:
            if self._failure is None:
                self._failure = exc
            return False

    def _select_alpn(self, offered: list[bytes]) -> bytes:
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
        if _DIRECT:
            return _drain_direct(self._conn._from_ssl, 4096)
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
        leaf = conn.get_peer_certificate()
        if leaf is None:
            raise MissingCertificateError("the peer sent no certificate")
        # The whole chain as sent: on the server side OpenSSL leaves the leaf out of it.
        sent = len(conn.get_peer_cert_chain() or ()) + (0 if self.is_initiator else 1)
        verified = self._verified
        if verified is None or sent != 1 or crypto.dump_certificate(crypto.FILETYPE_ASN1, leaf) != self._verified_der:
            # the verify callback checked the leaf (and only it); anything else is checked here
            chain = conn.get_peer_cert_chain(as_cryptography=True) or []
            if not self.is_initiator:
                chain = [leaf.to_cryptography(), *chain]
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
        self._records = records_for(conn)
        conn.set_app_data(None)  # no callback runs after the handshake; the session need not hold it
        # Application data that came in the same read as the last handshake message.
        self.pending_plaintext = self._records.decrypt(b"")
        self.completed_event = HandshakeCompleted(verified.peer_id, verified.public_key, muxer)
