"""The one place that orders the upgrade of a raw connection: multistream → security → muxer.

Security is negotiated first (``/noise``), then the muxer: chosen inside the Noise handshake when
both sides list muxers (early negotiation), else by a second multistream round over the secure
channel. Every step runs under the caller's overall timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.abc import MuxerSession
from libp2p.errors import Libp2pError
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import accept_protocol, select_protocol
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.service import NoiseSession, noise_handshake

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.transport.connection import RawConnection

__all__ = ["Upgrader", "UpgradeResult", "UpgradeError", "MUXERS", "SECURITY"]

NOISE = "/noise"
YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"
SECURITY = (NOISE,)


def _yamux(is_initiator: bool) -> MuxerSession:
    from libp2p.muxer.yamux import YamuxConfig, YamuxSession

    # A full data frame (12-byte header + payload) fills exactly one Noise message (65519 bytes of
    # plaintext), so the receiver finds whole frames in each decrypted message instead of
    # reassembling frames that straddle two.
    return YamuxSession(is_initiator, YamuxConfig(max_message_size=_NOISE_MAX_PLAINTEXT))


def _mplex(is_initiator: bool) -> MuxerSession:
    from libp2p.muxer.mplex.core import MplexSession

    return MplexSession(is_initiator)


_NOISE_MAX_PLAINTEXT = 65535 - 16

MUXERS: dict[str, Callable[[bool], MuxerSession]] = {YAMUX: _yamux, MPLEX: _mplex}


_crypto_ready = False


def _prepare_crypto() -> None:
    """Initialise the crypto backend once per process, before the first dial needs it.

    OpenSSL sets up its random generator and loads the X25519 and ChaCha20-Poly1305
    implementations on their first use: ~1 ms in a fresh process (the next X25519 key takes
    25 µs). Done when a host is created, that one-time cost stays out of its first connection.
    """
    global _crypto_ready
    if _crypto_ready:
        return
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    X25519PrivateKey.generate().public_key().public_bytes_raw()
    ChaCha20Poly1305(bytes(32)).encrypt(bytes(12), b"", None)
    _crypto_ready = True


class UpgradeError(Libp2pError):
    """The connection could not be secured or multiplexed."""


@dataclass(slots=True)
class UpgradeResult:
    secure: NoiseSession
    muxer_id: str
    session: MuxerSession
    leftover: bytes


class _SecureChannel:
    """Plaintext reads and writes over a secured raw connection, for the muxer negotiation."""

    def __init__(self, raw: RawConnection, secure: NoiseSession) -> None:
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
    def __init__(
        self,
        identity_key: PrivateKey,
        *,
        muxers: Sequence[str] = (YAMUX, MPLEX),
        security: Sequence[str] = SECURITY,
        noise_config: NoiseConfig | None = None,
        timeout: float = 15.0,
    ) -> None:
        unknown = [m for m in muxers if m not in MUXERS]
        if unknown or not muxers:
            raise ValueError(f"unsupported muxers {unknown or muxers}; choose from {list(MUXERS)}")
        if list(security) != [NOISE]:
            raise ValueError(f"unsupported security {list(security)}; only {NOISE} is implemented")
        self.identity_key = identity_key
        self.muxers = tuple(muxers)
        self.security = tuple(security)
        self.noise_config = noise_config or NoiseConfig(handshake_timeout=timeout)
        self.timeout = timeout
        _prepare_crypto()

    async def upgrade(self, raw: RawConnection, remote_peer_id: PeerId | None = None) -> UpgradeResult:
        """Secure and multiplex ``raw`` (dialer when ``raw.is_initiator``)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._upgrade(raw, remote_peer_id)
        except TimeoutError:
            raise UpgradeError(f"connection upgrade timed out after {self.timeout} s") from None

    async def _upgrade(self, raw: RawConnection, remote_peer_id: PeerId | None) -> UpgradeResult:
        async def write_raw(data: bytes) -> None:
            raw.write(data)

        negotiation = None
        if raw.is_initiator:
            # One security protocol: propose it optimistically, in the same flight as Noise's
            # first message (go-libp2p's lazy multistream does the same).
            negotiation = MultistreamDialer(self.security, optimistic=True)
        else:
            await accept_protocol(raw.read, write_raw, raw.unread, self.security, timeout=self.timeout)
        secure = await noise_handshake(
            raw,
            self.identity_key,
            remote_peer_id=remote_peer_id,
            muxers=self.muxers,
            config=self.noise_config,
            negotiation=negotiation,
        )
        channel = _SecureChannel(raw, secure)
        muxer = secure.early_muxer
        if muxer is None:
            if raw.is_initiator:
                muxer = await select_protocol(channel.read, channel.write, channel.unread, self.muxers, timeout=self.timeout)
            else:
                muxer = await accept_protocol(channel.read, channel.write, channel.unread, self.muxers, timeout=self.timeout)
        if muxer not in MUXERS:
            raise UpgradeError(f"negotiated unsupported muxer {muxer!r}")
        return UpgradeResult(secure, muxer, MUXERS[muxer](raw.is_initiator), channel.pending)
