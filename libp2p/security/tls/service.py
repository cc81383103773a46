"""asyncio glue for the libp2p TLS handshake, and the finished session the upgrader hands on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from libp2p.security.driver import drive_handshake
from libp2p.security.tls.config import PROTOCOL_ID, TLSConfig
from libp2p.security.tls.core import Credentials, TLSHandshake, TLSIdentity, TLSRecords
from libp2p.security.tls.errors import TLSHandshakeError, TLSHandshakeTimeoutError
from libp2p.security.tls.events import HandshakeCompleted

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey, PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.negotiate.core import MultistreamDialer
    from libp2p.transport.connection import RawConnection

__all__ = ["TLS", "TLSSession", "tls_handshake"]


class TLSSession:
    """A secured connection's record layer and the authenticated remote (a ``SecureSession``)."""

    protocol_id = PROTOCOL_ID

    def __init__(self, completed: HandshakeCompleted, records: TLSRecords, pending_plaintext: list[bytes]) -> None:
        self.remote_peer_id: PeerId = completed.remote_peer_id
        self.remote_public_key: PublicKey = completed.remote_public_key
        self.early_muxer: str | None = completed.selected_muxer
        self._records = records
        self.encrypt = records.encrypt
        self.decrypt = records.decrypt
        self.pending_plaintext: list[bytes] = pending_plaintext


async def tls_handshake(
    raw: RawConnection,
    identity_key: PrivateKey,
    *,
    remote_peer_id: PeerId | None,
    muxers: Sequence[str],
    config: TLSConfig | None = None,
    negotiation: MultistreamDialer | None = None,
    credentials: Credentials | None = None,
    caller_deadline: bool = False,
    identity: TLSIdentity | None = None,
    defer_last: bool = False,
) -> TLSSession:
    """Run the libp2p TLS handshake on ``raw``; verifies the remote (and ``remote_peer_id``).

    With ``negotiation`` (an optimistic multistream dialer that proposed ``/tls/1.0.0``), the
    proposal goes out in the same write as the ClientHello and the answer is taken off the front
    of what arrives. ``identity``: the host's certificate and context (``TLSIdentity``, made once
    per host); without it one is made for this handshake. ``credentials`` replaces the
    certificate (tests of bad certificates).
    ``caller_deadline``: the caller bounds the handshake with its own deadline (the upgrader's), so
    no second timer runs here; else ``config.handshake_timeout`` bounds it.
    ``defer_last``: the dialer's last flight (its Finished) goes out with the first bytes written
    after the handshake (``raw.write_later``): the caller writes soon, or flushes it.
    """
    config = config or TLSConfig()
    hs = TLSHandshake(
        raw.is_initiator,
        identity_key,
        remote_peer_id=remote_peer_id,
        muxers=muxers,
        now=dt.datetime.now(dt.timezone.utc),
        config=config,
        credentials=credentials,
        identity=identity,
    )
    await drive_handshake(
        raw, hs, protocol_id=PROTOCOL_ID, negotiation=negotiation,
        timeout=None if caller_deadline else config.handshake_timeout,
        closed=lambda: TLSHandshakeError("connection closed during the TLS handshake"),
        timed_out=lambda: TLSHandshakeTimeoutError(
            f"TLS handshake did not complete within {config.handshake_timeout} s"
        ),
        defer_last=defer_last,
    )
    completed = hs.next_event()
    assert completed is not None
    return TLSSession(completed, hs.session(), hs.pending_plaintext)


class TLS:
    """The TLS security option for the upgrader: ``new_host(security=[TLS(TLSConfig(...))])``."""

    protocol_id = PROTOCOL_ID
    # hosts sharing one option object each keep their identity; more than this is no real use
    _MAX_IDENTITIES = 8

    def __init__(self, config: TLSConfig | None = None) -> None:
        self.config = config
        self._identities: dict[PrivateKey, TLSIdentity] = {}

    def identity(self, identity_key: PrivateKey) -> TLSIdentity:
        """The certificate and OpenSSL context this option presents for ``identity_key``, made
        on first use and kept (go-libp2p makes its certificate once per transport)."""
        identity = self._identities.get(identity_key)
        if identity is None:
            if len(self._identities) >= self._MAX_IDENTITIES:
                del self._identities[next(iter(self._identities))]
            identity = self._identities[identity_key] = TLSIdentity(identity_key)
        return identity

    def prepare(self, identity_key: PrivateKey, muxers: Sequence[str]) -> None:
        """Make the host's certificate and context now (the upgrader calls this when a host is
        made), not during the first handshake."""
        self.identity(identity_key).context(dt.datetime.now(dt.timezone.utc))

    async def secure(
        self,
        raw: RawConnection,
        identity_key: PrivateKey,
        *,
        remote_peer_id: PeerId | None,
        muxers: Sequence[str],
        timeout: float | None,
        negotiation: MultistreamDialer | None = None,
    ) -> TLSSession:
        # timeout None: the caller's deadline bounds the handshake; a configured one still applies
        config = self.config or (TLSConfig() if timeout is None else TLSConfig(handshake_timeout=timeout))
        return await tls_handshake(
            raw, identity_key, remote_peer_id=remote_peer_id, muxers=muxers, config=config, negotiation=negotiation,
            caller_deadline=self.config is None and timeout is None, identity=self.identity(identity_key),
            # the dialer's Finished leaves with the connection's first frames (as Noise's message 3)
            defer_last=True,
        )

    def __repr__(self) -> str:
        return f"TLS({self.config!r})" if self.config is not None else "TLS()"
