"""Every use of aioquic's private code, in one place (aioquic is pinned in pyproject.toml).

aioquic 1.7 has no public way to (1) ask the client for a certificate, (2) verify a peer
certificate by our own rules during the handshake, (3) refuse an empty client Certificate
message (RFC 8446 lets a server go on without client authentication, and aioquic does), nor
(4) tell how many bytes a stream still holds unacknowledged (for write back-pressure).
``check_hooks()`` fails loudly when an upgrade moves any of these; a test calls it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aioquic import tls
from aioquic.buffer import Buffer  # type: ignore[attr-defined]  # re-exported from aioquic._buffer
from aioquic.quic.connection import QuicConnection

__all__ = [
    "AIOQUIC_VERSION",
    "HookError",
    "check_hooks",
    "install_tls_hooks",
    "new_quic_connection",
    "unacked_send_bytes",
]

AIOQUIC_VERSION = "1.7.2"


class HookError(RuntimeError):
    """aioquic changed under a private hook we rely on."""


class _AlertCertificateRequired(tls.Alert):
    description = tls.AlertDescription.certificate_required


def check_hooks() -> None:
    """Raise ``HookError`` unless every private attribute we touch is where we expect it."""
    ctx = tls.Context(is_client=False)
    problems = []
    if getattr(ctx, "_request_client_certificate", None) is not False:
        problems.append("tls.Context._request_client_certificate (a bool, False by default)")
    for name, params in (("_set_peer_certificate", ["certificate"]), ("_server_handle_certificate", ["input_buf"])):
        method = getattr(ctx, name, None)
        if method is None or list(inspect.signature(method).parameters) != params:
            problems.append(f"tls.Context.{name}({', '.join(params)})")
    if "_peer_certificate" not in vars(ctx) or "_peer_certificate_chain" not in vars(ctx):
        problems.append("tls.Context._peer_certificate / _peer_certificate_chain")
    source = inspect.getsource(tls.Context)
    if "self._server_handle_certificate(input_buf)" not in source:
        problems.append("tls.Context dispatches the client Certificate to self._server_handle_certificate")
    if not hasattr(QuicConnection, "_initialize") or "self.tls = tls.Context(" not in inspect.getsource(
        QuicConnection._initialize
    ):
        problems.append("QuicConnection._initialize creates self.tls")
    if "self._is_client = " not in inspect.getsource(QuicConnection.__init__):
        problems.append("QuicConnection._is_client")
    if "_streams" not in inspect.getsource(QuicConnection.__init__):
        problems.append("QuicConnection._streams")
    from aioquic.quic.stream import QuicStreamSender

    sender = QuicStreamSender(0, True)
    if not all(hasattr(sender, a) for a in ("_buffer_start", "_buffer_stop")):
        problems.append("QuicStreamSender._buffer_start / _buffer_stop")
    if problems:
        raise HookError(f"aioquic changed (pinned {AIOQUIC_VERSION}): " + "; ".join(problems))


def install_tls_hooks(
    ctx: tls.Context,
    *,
    is_client: bool,
    verify: Callable[[list[bytes]], None],
) -> None:
    """Make ``ctx`` (a connection's TLS context) follow the libp2p rules.

    ``verify(chain)`` gets every certificate the peer sent (DER, leaf first) and raises to
    refuse it; the refusal becomes a bad_certificate alert before the handshake completes.
    A server asks for the client's certificate and refuses an empty one.
    """

    def set_peer_certificate(certificate: Any) -> None:
        try:
            verify([entry[0] for entry in certificate.certificates])
        except tls.Alert:
            raise
        except Exception as exc:
            raise tls.AlertBadCertificate(str(exc)) from exc
        original_set(certificate)

    original_set = ctx._set_peer_certificate
    ctx._set_peer_certificate = set_peer_certificate  # type: ignore[method-assign]
    if is_client:
        return
    ctx._request_client_certificate = True
    original_handle = ctx._server_handle_certificate

    def server_handle_certificate(input_buf: Buffer) -> None:
        start = input_buf.tell()
        certificate = tls.pull_certificate(input_buf)
        input_buf.seek(start)
        if not certificate.certificates:
            try:
                verify([])
            except Exception as exc:
                raise _AlertCertificateRequired(str(exc)) from exc
            raise _AlertCertificateRequired("the client sent no certificate")
        original_handle(input_buf)

    ctx._server_handle_certificate = server_handle_certificate  # type: ignore[method-assign]


def unacked_send_bytes(quic: QuicConnection, stream_id: int) -> int:
    """Bytes written to ``stream_id`` that the peer has not acknowledged yet (0 if gone)."""
    stream = quic._streams.get(stream_id)
    if stream is None:
        return 0
    sender = stream.sender
    return int(sender._buffer_stop - sender._buffer_start)


class _Libp2pQuicConnection(QuicConnection):
    """A ``QuicConnection`` whose TLS context gets the libp2p hooks as soon as it exists."""

    def __init__(self, *, verify: Callable[[list[bytes]], None], **kwargs: Any) -> None:
        self._libp2p_verify = verify
        super().__init__(**kwargs)

    def _initialize(self, peer_cid: bytes) -> None:
        super()._initialize(peer_cid)
        install_tls_hooks(self.tls, is_client=self._is_client, verify=self._libp2p_verify)


def new_quic_connection(*, verify: Callable[[list[bytes]], None], **kwargs: Any) -> QuicConnection:
    """``QuicConnection(**kwargs)`` that checks the peer's certificate chain with ``verify``."""
    return _Libp2pQuicConnection(verify=verify, **kwargs)
