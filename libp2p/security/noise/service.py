"""asyncio glue for the Noise handshake, and the finished session the upgrader hands on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from libp2p.negotiate.core import MultistreamDialer
from libp2p.security.driver import drive_handshake
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.core import NoiseHandshake, StaticKey
from libp2p.security.noise.errors import HandshakeError, HandshakeTimeoutError
from libp2p.security.noise.events import HandshakeCompleted

if TYPE_CHECKING:
    from libp2p._pure.noise import NoiseDecryptor, NoiseEncryptor
    from libp2p._pure.noise_inbound import InboundHandshake
    from libp2p.identity.keys import PrivateKey, PublicKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.transport.connection import RawConnection

__all__ = ["Noise", "NoiseSession", "noise_handshake", "session_of"]

# The config of a handshake whose caller bounds it (its deadline is not used).
_CALLER_BOUNDED = NoiseConfig()


class NoiseSession:
    """A secured connection's ciphers and the authenticated remote (a ``SecureSession``)."""

    protocol_id = "/noise"

    def __init__(
        self, completed: HandshakeCompleted | InboundHandshake, encryptor: NoiseEncryptor, decryptor: NoiseDecryptor
    ) -> None:
        # ``completed``: the completion event, or a completed InboundHandshake (the same names)
        remote_peer_id, remote_public_key = completed.remote_peer_id, completed.remote_public_key
        assert remote_peer_id is not None and remote_public_key is not None
        self.remote_peer_id: PeerId = remote_peer_id
        self.remote_public_key: PublicKey = remote_public_key
        self.early_muxer: str | None = completed.selected_muxer
        # The ciphers' own methods, not wrappers: one Python frame less per message each way.
        #: ``encrypt(plaintext) -> framed messages``
        self.encrypt: Callable[[bytes | bytearray | memoryview], bytes] = encryptor.encrypt
        #: ``decrypt(received bytes) -> plaintexts of the messages they complete``
        self.decrypt: Callable[[bytes | bytearray | memoryview], list[bytes]] = decryptor.decrypt
        # Transport messages that arrived with the last handshake message.
        self.pending_plaintext: list[bytes] = decryptor.decrypt_available()


async def noise_handshake(
    raw: RawConnection,
    identity_key: PrivateKey,
    *,
    remote_peer_id: PeerId | None,
    muxers: Sequence[str],
    config: NoiseConfig | None = None,
    negotiation: MultistreamDialer | None = None,
    static_key: StaticKey | None = None,
    defer_last: bool = False,
    caller_deadline: bool = False,
) -> NoiseSession:
    """Run the XX handshake on ``raw``; verifies the remote (and ``remote_peer_id`` when given).

    ``static_key``: a Noise static key reused across handshakes (default: a fresh one).

    With ``negotiation`` (an optimistic multistream dialer that proposed ``/noise``), its proposal
    goes out in the same write as the first handshake message, and the listener's answer is
    consumed from the front of what arrives: one round trip fewer per dial.

    ``defer_last``: the initiator's last message (3) is left to go out with the first bytes written
    after the handshake (``raw.write_later``): the caller writes soon, or flushes it.

    ``caller_deadline``: the caller bounds the handshake with its own deadline (the upgrader's, for
    the whole upgrade), so no second timer runs here; else ``config.handshake_timeout`` bounds it.
    """
    config = config or NoiseConfig()
    hs = NoiseHandshake(
        raw.is_initiator,
        identity_key,
        remote_peer_id=remote_peer_id,
        muxers=muxers,
        static_key=static_key,
        config=config,
        # the core's own deadline only when it bounds itself (the driver's timer enforces it)
        now=None if caller_deadline else asyncio.get_running_loop().time(),
    )
    await drive_handshake(
        raw, hs, protocol_id="/noise", negotiation=negotiation,
        timeout=None if caller_deadline else config.handshake_timeout,
        closed=lambda: HandshakeError("connection closed during the Noise handshake"),
        timed_out=lambda: HandshakeTimeoutError(
            f"Noise handshake did not complete within {config.handshake_timeout} s"
        ),
        defer_last=defer_last,
    )
    return session_of(hs)


def session_of(hs: NoiseHandshake) -> NoiseSession:
    """The session of a completed handshake (its ciphers taken out of the core)."""
    completed = hs.completed_event
    assert completed is not None
    encryptor, decryptor = hs.transport()
    return NoiseSession(completed, encryptor, decryptor)


_first_use_done = False


def _first_use() -> None:
    """Once per process, when a host is made: what the first handshake would otherwise pay for
    once (measured in a new process, benchmarks/RESULTS.md): the native twin looks libsodium's AEAD
    up at its first cipher (~50 us). (X25519, Ed25519 and SHA-256 showed no one-time cost: their
    first call is only slower while the CPU caches are cold, so they are not called here. The
    payload is read by ``noise_verify_payload``, not protobuf: nothing to set up for it.)"""
    global _first_use_done
    if _first_use_done:
        return
    _first_use_done = True
    from libp2p._accel import NoiseDecryptor, NoiseEncryptor

    NoiseEncryptor(bytes(32)).encrypt(b"")
    NoiseDecryptor(bytes(32))


class Noise:
    """The Noise security option for the upgrader: ``new_host(security=[Noise(NoiseConfig(...))])``.

    One static key serves every handshake of this option (so of its host), and its signed payload
    is made once: a connection then costs no X25519 key generation and no signature beyond the
    ephemeral key's (rust-libp2p does the same). The key lives in memory only.
    """

    protocol_id = "/noise"

    def __init__(self, config: NoiseConfig | None = None) -> None:
        self.config = config
        self._static_key: StaticKey | None = None

    def prepare(self, identity_key: PrivateKey, muxers: Sequence[str]) -> None:
        """Make the static key and its signed payload now (the upgrader calls this when a host is
        made), not during the first handshake."""
        if self._static_key is None:
            self._static_key = StaticKey()
        self._static_key.payload(identity_key, tuple(muxers))
        _first_use()

    async def secure(
        self,
        raw: RawConnection,
        identity_key: PrivateKey,
        *,
        remote_peer_id: PeerId | None,
        muxers: Sequence[str],
        timeout: float | None,
        negotiation: MultistreamDialer | None = None,
    ) -> NoiseSession:
        # timeout None: the caller's deadline bounds the handshake; a configured one still applies
        if self.config is not None:
            config = self.config
        else:
            config = _CALLER_BOUNDED if timeout is None else NoiseConfig(handshake_timeout=timeout)
        if self._static_key is None:
            self._static_key = StaticKey()
        return await noise_handshake(
            raw, identity_key, remote_peer_id=remote_peer_id, muxers=muxers, config=config, negotiation=negotiation,
            # message 3 leaves with the connection's first frames (the muxer's first flush writes it)
            static_key=self._static_key, defer_last=True,
            caller_deadline=self.config is None and timeout is None,
        )

    def responder(self, identity_key: PrivateKey, muxers: Sequence[str], now: float) -> NoiseHandshake:
        """A responder's sans-IO core, for a caller that feeds it bytes from the connection's
        callbacks itself (the upgrader's inbound path, under its own deadline); ``session_of``
        makes its session. A configured ``NoiseConfig.handshake_timeout`` runs from ``now``:
        the core's ``get_timer``/``handle_timer`` report it (None when the caller's deadline
        alone bounds the handshake, as in ``secure``)."""
        if self._static_key is None:
            self._static_key = StaticKey()
        if self.config is None:
            return NoiseHandshake(False, identity_key, muxers=muxers, static_key=self._static_key,
                                  config=_CALLER_BOUNDED)
        return NoiseHandshake(False, identity_key, muxers=muxers, static_key=self._static_key,
                              config=self.config, now=now)

    def inbound_handshake(
        self, identity_key: PrivateKey, muxers: Sequence[str], protocols: Sequence[str]
    ) -> InboundHandshake:
        """A listener's inbound core (``InboundHandshake``: multistream for ``protocols``, then this
        option's Noise responder) to make each connection's core from with ``fresh()``. It sends the
        payload signed once for the reused static key; a configured ``handshake_timeout`` is the
        caller's to apply (the core keeps no time)."""
        from libp2p._accel import InboundHandshake

        if self._static_key is None:
            self._static_key = StaticKey()
        static = self._static_key
        config = self.config if self.config is not None else _CALLER_BOUNDED
        return InboundHandshake(tuple(protocols), static.private, static.public,
                                static.payload(identity_key, tuple(muxers)), tuple(muxers),
                                config.max_handshake_message)

    def __repr__(self) -> str:
        return f"Noise({self.config!r})" if self.config is not None else "Noise()"
