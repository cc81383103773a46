"""The one place that orders the upgrade of a raw connection: multistream → security → muxer.

The security and muxer options (``Noise``, ``Yamux``, ``Mplex``) carry their own configuration.
Security is negotiated first (``/noise`` or ``/tls/1.0.0``), then the muxer: chosen inside the
Noise handshake or through TLS's ALPN when both sides list muxers (early negotiation), else by a second multistream round over the secure
channel. Every step runs under the caller's overall timeout.

A listener's inbound connections are upgraded from their data callbacks instead (``inbound``,
``libp2p.host.inbound``: no task in the common case); what that path does not cover continues
here, in ``_secure_and_multiplex`` or ``_multiplex``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from libp2p.errors import Libp2pError, LocalProtocolError, RemoteProtocolError
from libp2p.driver import Deadlines
from libp2p.host.inbound import InboundUpgrade
from libp2p.muxer.options import MPLEX, YAMUX, Mplex, Yamux
from libp2p.negotiate.core import PROTOCOL_ID as _MULTISTREAM
from libp2p.negotiate.core import MultistreamDialer, encode_message
from libp2p.negotiate.service import accept_protocol, select_protocol
from libp2p.security.noise.service import Noise

if TYPE_CHECKING:
    from libp2p._pure.noise_inbound import InboundHandshake
    from libp2p.abc import MuxerOption, SecureSession, SecurityOption
    from libp2p.host.inbound import InboundOwner
    from libp2p.identity.keys import PrivateKey
    from libp2p.muxer.connection import MuxedConnection
    from libp2p.resources import ConnectionScope
    from libp2p.identity.peer_id import PeerId
    from libp2p.transport.connection import RawConnection

__all__ = ["Upgrader", "UpgradeError", "NOISE", "TLS", "YAMUX", "MPLEX", "security_option", "muxer_option"]

NOISE = "/noise"
TLS = "/tls/1.0.0"
_MULTISTREAM_HEADER = encode_message(_MULTISTREAM)


def _tls() -> SecurityOption:
    # Imported on first use: pyOpenSSL loads only for hosts that offer TLS.
    from libp2p.security.tls.service import TLS as TLSOption

    return TLSOption()


_SECURITY_BY_ID: dict[str, Callable[[], SecurityOption]] = {NOISE: Noise, TLS: _tls}
_MUXERS_BY_ID: dict[str, Callable[[], MuxerOption]] = {YAMUX: Yamux, MPLEX: Mplex}


O = TypeVar("O")


def _option(option: O | str, defaults: dict[str, Callable[[], O]], what: str) -> O:
    """``option`` itself, or the default option object for a protocol id."""
    if not isinstance(option, str):
        return option
    factory = defaults.get(option)
    if factory is None:
        raise LocalProtocolError(f"unsupported {what} {option!r}; choose from {list(defaults)}")
    return factory()


def security_option(option: SecurityOption | str) -> SecurityOption:
    """A security option object, or the default one for a protocol id (``"/noise"``)."""
    return _option(option, _SECURITY_BY_ID, "security")


def muxer_option(option: MuxerOption | str) -> MuxerOption:
    """A muxer option object, or the default one for a protocol id (``"/yamux/1.0.0"``)."""
    return _option(option, _MUXERS_BY_ID, "muxer")


_crypto_ready = False


def _prepare_crypto() -> None:
    """Initialise the crypto backend once per process, before the first dial needs it.

    OpenSSL sets up its random generator and loads ChaCha20-Poly1305 and HMAC-SHA256 (Noise's
    HKDF, ~0.12 ms) on their first use, libsodium picks its X25519 code: ~1 ms in a fresh process.
    Done when a host is created, that one-time cost stays out of its first connection.
    """
    global _crypto_ready
    if _crypto_ready:
        return
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from nacl.bindings import crypto_scalarmult_base

    crypto_scalarmult_base(bytes(range(32)))
    ChaCha20Poly1305(bytes(32)).encrypt(bytes(12), b"", None)
    hmac.digest(bytes(32), b"", "sha256")
    _crypto_ready = True


class UpgradeError(Libp2pError):
    """The connection could not be secured or multiplexed."""


class NotLibp2pPeerError(UpgradeError, RemoteProtocolError):
    """What answered the dial does not speak multistream-select: it is no libp2p peer."""

    def __init__(self, detail: object = None) -> None:
        super().__init__("not a libp2p peer (no multistream-select)")
        self.detail = detail


class _SecureChannel:
    """Plaintext reads and writes over a secured raw connection, for the muxer negotiation."""

    def __init__(self, raw: RawConnection, secure: SecureSession) -> None:
        self.raw = raw
        self.secure = secure
        self.pending = b"".join(secure.pending_plaintext)

    async def read(self) -> bytes:
        while not self.pending:
            data = await self.raw.read()
            if not data:
                return b""
            self.pending = b"".join(self.secure.decrypt(data))
        out, self.pending = self.pending, b""
        return out

    async def write(self, data: bytes) -> None:
        self.raw.write(self.secure.encrypt(data))

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending


class Upgrader:
    """Secures and multiplexes raw connections with the given options, in order of preference."""

    def __init__(
        self,
        identity_key: PrivateKey,
        *,
        muxers: Sequence[MuxerOption | str] = (YAMUX, MPLEX),
        security: Sequence[SecurityOption | str] = (NOISE,),
        timeout: float = 15.0,
    ) -> None:
        from libp2p.identity.peer_id import PeerId

        if not muxers:
            raise LocalProtocolError("at least one muxer is needed")
        if not security:
            raise LocalProtocolError("at least one security protocol is needed")
        self.identity_key = identity_key
        self.local_peer_id = PeerId.from_public_key(identity_key.public_key)
        self.muxer_options = {m.protocol_id: m for m in map(muxer_option, muxers)}
        self.security_options = {s.protocol_id: s for s in map(security_option, security)}
        self.muxers = tuple(self.muxer_options)
        self.security = tuple(self.security_options)
        # What an inbound connection's first negotiation accepts, checked once here, not per connection.
        self._security_accepts = frozenset(self.security).__contains__
        self._security_listed = lambda: self.security
        # An inbound connection's usual first bytes: the multistream header and one proposal we
        # take (what the listener answers too), with the protocol agreed.
        self._security_flights = tuple((_MULTISTREAM_HEADER + encode_message(p), p) for p in self.security)
        self.timeout = timeout
        # imported here, once, not in ``multiplexed`` per connection (~1 us each)
        from libp2p.muxer.connection import MuxedConnection

        self._muxed_connection = MuxedConnection
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: Deadlines[InboundUpgrade] | None = None
        _prepare_crypto()
        for option in self.security_options.values():
            # Noise and TLS make their static key / certificate here, not in the first handshake
            prepare = getattr(option, "prepare", None)
            if prepare is not None:
                prepare(identity_key, self.muxers)
        # An inbound connection's multistream round and Noise handshake in one core (a twin),
        # made per connection with ``fresh()``: see ``libp2p.host.inbound``.
        noise = self.security_options.get(NOISE)
        self._inbound_core: InboundHandshake | None = None
        self._noise_timeout: float | None = None  # a configured NoiseConfig.handshake_timeout
        if isinstance(noise, Noise):
            self._inbound_core = noise.inbound_handshake(identity_key, self.muxers, self.security)
            if noise.config is not None:
                self._noise_timeout = noise.config.handshake_timeout

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of this upgrader's host (looked up once)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    @property
    def deadlines(self) -> Deadlines[InboundUpgrade]:
        """The deadlines of the inbound upgrades in progress."""
        deadlines = self._deadlines
        if deadlines is None:
            # Slots of at most 0.1 s (a tenth of a short timeout): a deadline acts that much late at most.
            deadlines = self._deadlines = Deadlines(
                InboundUpgrade._on_timer, max(0.001, min(0.1, self.timeout / 10)), self.loop
            )
        return deadlines

    def inbound(self, raw: RawConnection, scope: ConnectionScope | None, owner: InboundOwner) -> InboundUpgrade:
        """The upgrade of an inbound ``raw``, driven from its data callbacks (see ``libp2p.host.inbound``):
        not started (its ``start`` arms the deadline and takes the input); it reports to ``owner``."""
        return InboundUpgrade(self, raw, scope, owner)

    async def upgrade(
        self, raw: RawConnection, remote_peer_id: PeerId | None = None, scope: ConnectionScope | None = None
    ) -> MuxedConnection:
        """Secure and multiplex ``raw`` (dialer when ``raw.is_initiator``): a connection not yet started.

        One deadline bounds the whole upgrade (every step in it: negotiations and the security
        handshake), so the steps run without timers of their own.
        """
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                return await self._upgrade(raw, remote_peer_id, scope)
        except TimeoutError:
            if not deadline.expired():
                raise  # a step's own configured timeout (e.g. NoiseConfig.handshake_timeout): its error
            raise UpgradeError(f"connection upgrade timed out after {self.timeout} s") from None

    async def _upgrade(
        self, raw: RawConnection, remote_peer_id: PeerId | None, scope: ConnectionScope | None
    ) -> MuxedConnection:
        async def write_raw(data: bytes) -> None:
            raw.write(data)

        async def answer_later(data: bytes) -> None:
            # The answer goes out with the security handshake's first message, or before we wait
            # for the dialer (which may be waiting for it): one write fewer for optimistic dialers.
            raw.write_later(data)

        negotiation = None
        if raw.is_initiator and len(self.security) == 1:
            # One security protocol: propose it optimistically, in the same flight as its first
            # handshake message (go-libp2p's lazy multistream does the same).
            negotiation = MultistreamDialer(self.security, optimistic=True)
            chosen = self.security[0]
        elif raw.is_initiator:
            chosen = await select_protocol(raw.read, write_raw, raw.unread, self.security, timeout=None)
        else:
            chosen = await accept_protocol(raw.read, answer_later, raw.unread, self._security_accepts,
                                           listed=self._security_listed, timeout=None)
        return await self._secure_and_multiplex(raw, chosen, remote_peer_id, scope, negotiation)

    async def _secure_and_multiplex(
        self,
        raw: RawConnection,
        chosen: str,
        remote_peer_id: PeerId | None,
        scope: ConnectionScope | None,
        negotiation: MultistreamDialer | None = None,
    ) -> MuxedConnection:
        """The upgrade from the security protocol's handshake on (``chosen`` was agreed)."""
        try:
            secure = await self.security_options[chosen].secure(
                raw,
                self.identity_key,
                remote_peer_id=remote_peer_id,
                muxers=self.muxers,
                timeout=None,
                negotiation=negotiation,
            )
        except (Libp2pError, EOFError) as exc:
            # Bytes came back, but never a multistream header: a web server, SSH, ... answered.
            if negotiation is not None and not negotiation.header_seen and raw.bytes_received > 0:
                raise NotLibp2pPeerError(exc) from exc
            raise
        if secure.early_muxer is not None:  # chosen inside the handshake: no second round
            return self.multiplexed(raw, secure, secure.early_muxer, b"".join(secure.pending_plaintext), scope)
        return await self._multiplex(raw, secure, scope)

    async def _multiplex(
        self, raw: RawConnection, secure: SecureSession, scope: ConnectionScope | None
    ) -> MuxedConnection:
        """The muxer agreed in a multistream round over the secure channel (none was chosen inside
        the security handshake: both callers take that case themselves)."""
        channel = _SecureChannel(raw, secure)
        if raw.is_initiator:
            muxer = await select_protocol(channel.read, channel.write, channel.unread, self.muxers, timeout=None)
        else:
            muxer = await accept_protocol(channel.read, channel.write, channel.unread, self.muxers, timeout=None)
        return self.multiplexed(raw, secure, muxer, channel.pending, scope)

    def multiplexed(
        self, raw: RawConnection, secure: SecureSession, muxer: str, leftover: bytes, scope: ConnectionScope | None
    ) -> MuxedConnection:
        """The connection (not started) over ``secure`` with ``muxer``; ``leftover``: plaintext
        that arrived with the end of the negotiation."""
        option = self.muxer_options.get(muxer)
        if option is None:
            raise UpgradeError(f"negotiated unsupported muxer {muxer!r}")
        return self._muxed_connection(
            raw,
            secure,
            option.new_session(raw.is_initiator),
            muxer_id=muxer,
            local_peer_id=self.local_peer_id,
            leftover=leftover,
            scope=scope,
        )
