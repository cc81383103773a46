"""A real host on loopback TCP survives hostile peers.

Each case drives a listening host (echo enabled) with a hand-written client over a raw asyncio
TCP connection. Where the attack comes after the handshake, the client completes a real
multistream + Noise XX handshake with our sans-IO cores (``MultistreamDialer``,
``NoiseHandshake`` or the bare ``HandshakeState``) and then writes crafted frames, encrypted
with the transport cipher. Every case checks

(a) that the host reset the offending stream or closed the connection, with a typed error
    (captured from the upgrader, the stream negotiation or the connection's close reason) and a
    WARNING from a ``libp2p.*`` logger, and
(b) that the host keeps serving: afterwards a well-behaved host connects and gets an echo back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

import libp2p.host.host as host_module
import libp2p.transport.connection as transport_connection
from libp2p._accel import (
    NoiseDecryptor,
    NoiseEncryptor,
    YamuxFrameDecoder,
    mplex_pack_header,
    varint_encode,
    yamux_pack_header,
)
from libp2p.errors import DecodeError, Libp2pError, RemoteProtocolError
from libp2p.host.host import Host, HostConfig
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.host.upgrader import UpgradeError
from libp2p.resources import ResourceLimits, ScopeLimit
from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import MuxedConnection
from libp2p.muxer.mplex.core import FLAG_MESSAGE_INITIATOR, FLAG_NEW_STREAM
from libp2p.muxer.mplex.errors import MplexDecodeError, MplexFrameTooLargeError, MplexInvalidFlagError
from libp2p.muxer.yamux.errors import (
    DataAfterFinError,
    DuplicateStreamError,
    InvalidFrameTypeError,
    InvalidStreamIdError,
    InvalidVersionError,
    ReceiveWindowExceededError,
    UnknownStreamError,
    YamuxProtocolError,
)
from libp2p.muxer.yamux.wire import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    GO_AWAY_PROTOCOL_ERROR,
    INITIAL_STREAM_WINDOW,
    MAX_STREAM_WINDOW,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
)
from libp2p.negotiate.core import PROTOCOL_ID as MULTISTREAM
from libp2p.negotiate.core import MultistreamDialer, encode_message
from libp2p.negotiate.errors import (
    EmptyMessageError,
    IncorrectVersionError,
    MessageDecodeError,
    MessageTooLargeError,
    MissingNewlineError,
    NegotiationError,
)
from libp2p.negotiate.events import ProtocolAgreed
from libp2p.pb import noise_pb2
from libp2p.security.noise.core import STATIC_KEY_DOMAIN, HandshakeState, NoiseHandshake
from libp2p.security.noise.errors import (
    DecryptError,
    HandshakeDecryptError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    PeerIdMismatchError,
)
from libp2p.transport.tcp import tcp_endpoint

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
NOISE = "/noise"
YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"
ECHO = "/echo/1.0.0"
# Every test is bounded; the slowest waits out a 0.5-1 s upgrade timeout twice.
TEST_TIMEOUT = 20.0


# --- the host under attack ----------------------------------------------------------------------


@asynccontextmanager
async def listening_host(resource_limits: ResourceLimits | None = None, **config: Any) -> AsyncIterator[Host]:
    cfg = HostConfig(**{"upgrade_timeout": 5.0, **config})
    async with new_host(
        listen_addrs=[LOOPBACK], services=[EchoService()], config=cfg, resource_limits=resource_limits
    ) as host:
        yield host


async def assert_serves(target: Host) -> None:
    """(b): a well-behaved host connects to ``target`` and completes an echo round trip."""
    async with new_host() as client:
        peer = await client.connect(target.full_addrs()[0])
        stream = await client.new_stream(peer, [ECHO])
        message = os.urandom(4096)
        await stream.write(message)
        await stream.close()
        assert await stream.readexactly(len(message)) == message
        assert await stream.read() == b""


def libp2p_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("libp2p") and r.levelno >= logging.WARNING]


POLL_INTERVAL = 0.01


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it holds: at most ``timeout`` seconds and as many polls."""
    async with asyncio.timeout(timeout):
        for _ in range(int(timeout / POLL_INTERVAL) + 1):
            if predicate():
                return
            await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def matching_warnings(caplog: pytest.LogCaptureFixture, *needles: str) -> list[logging.LogRecord]:
    """The WARNINGs from ``libp2p.*`` loggers whose message contains every needle."""
    return [r for r in libp2p_warnings(caplog) if all(n in r.getMessage() for n in needles)]


async def wait_for_warning(
    caplog: pytest.LogCaptureFixture, *needles: str, timeout: float = 5.0
) -> logging.LogRecord:
    """The first WARNING from a ``libp2p.*`` logger whose message contains every needle."""
    await eventually(lambda: bool(matching_warnings(caplog, *needles)), timeout, f"a warning with {needles}")
    return matching_warnings(caplog, *needles)[0]


class UpgradeSpy:
    """Records what ended each failed inbound upgrade of the host (what its swarm was told)."""

    def __init__(self, host: Host) -> None:
        self.errors: list[BaseException] = []
        original = host.swarm.inbound_failed

        def failed(entry: Any, exc: BaseException) -> None:
            self.errors.append(exc)
            original(entry, exc)

        host.swarm.inbound_failed = failed  # type: ignore[method-assign]

    async def error(self, timeout: float = 5.0) -> BaseException:
        await eventually(lambda: bool(self.errors), timeout)
        return self.errors[0]


class NegotiationSpy:
    """Records what the host's per-stream ``accept_protocol`` raised."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.errors: list[BaseException] = []
        original = host_module.accept_protocol

        async def accept(*args: Any, **kwargs: Any) -> str:
            try:
                return await original(*args, **kwargs)
            except BaseException as exc:
                self.errors.append(exc)
                raise

        monkeypatch.setattr(host_module, "accept_protocol", accept)

    async def error(self, timeout: float = 5.0) -> BaseException:
        await eventually(lambda: bool(self.errors), timeout)
        return self.errors[0]


def the_connection(host: Host, peer: PeerId) -> MuxedConnection:
    conns = host.connections(peer)
    assert len(conns) == 1, conns
    return conns[0]


# --- the hostile client ---------------------------------------------------------------------------


class RawPeer:
    """A plain asyncio TCP client: writes whatever it is told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, target: Host) -> RawPeer:
        endpoint = tcp_endpoint(target.addrs[0])
        assert endpoint is not None
        host, port, _ = endpoint
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self) -> bytes:
        """Some bytes, or b"" once the host closed (or reset) the connection."""
        try:
            return await self.reader.read(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            return b""

    async def read_until_closed(self, timeout: float = 5.0) -> bytes:
        """Everything until the host closes the connection; fails if it stays open."""
        out = bytearray()
        async with asyncio.timeout(timeout):
            while data := await self.read():
                out += data
        return bytes(out)

    async def select(self, protocol: str) -> bytes:
        """Negotiate ``protocol`` with multistream-select; returns bytes read past the answer."""
        dialer = MultistreamDialer([protocol], optimistic=False)
        self.write(dialer.data_to_send())
        while True:
            data = await self.read()
            assert data, "the host closed the connection during multistream-select"
            dialer.receive_data(data)
            if out := dialer.data_to_send():
                self.write(out)
            event = dialer.next_event()
            if isinstance(event, ProtocolAgreed):
                return dialer.unused_data()
            assert event is None, event

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@asynccontextmanager
async def raw_peer(target: Host) -> AsyncIterator[RawPeer]:
    peer = await RawPeer.open(target)
    try:
        yield peer
    finally:
        await peer.close()


class SecurePeer:
    """A client that completed a real Noise handshake; writes crafted plaintext (or ciphertext)."""

    def __init__(
        self,
        raw: RawPeer,
        key: PrivateKey,
        encryptor: NoiseEncryptor,
        decryptor: NoiseDecryptor,
        muxer: str | None,
    ) -> None:
        self.raw = raw
        self.key = key
        self.peer_id = PeerId.from_public_key(key.public_key)
        self.encryptor = encryptor
        self.decryptor = decryptor
        self.muxer = muxer
        self.pending: deque[bytes] = deque()

    @classmethod
    async def handshake(cls, raw: RawPeer, muxers: Sequence[str] = (YAMUX,)) -> SecurePeer:
        key = generate_key_pair()
        leftover = await raw.select(NOISE)
        hs = NoiseHandshake(True, key, muxers=muxers)
        raw.write(hs.data_to_send())
        data = leftover
        while not hs.complete:
            if data:
                hs.receive_data(data)
                if out := hs.data_to_send():
                    raw.write(out)
                if hs.complete:
                    break
            data = await raw.read()
            assert data, "the host closed the connection during the Noise handshake"
        completed = hs.completed_event
        assert completed is not None
        encryptor, decryptor = hs.transport()
        peer = cls(raw, key, encryptor, decryptor, completed.selected_muxer)
        peer.pending.extend(decryptor.decrypt_available())
        return peer

    def send(self, plaintext: bytes) -> None:
        self.raw.write(self.encryptor.encrypt(plaintext))

    async def recv(self) -> bytes:
        """The next plaintext; b"" once the host closed the connection."""
        while not self.pending:
            data = await self.raw.read()
            if not data:
                return b""
            self.pending.extend(self.decryptor.decrypt(data))
        return self.pending.popleft()

    async def select(self, protocol: str) -> bytes:
        """multistream-select over the secure channel (no early muxer negotiation)."""
        dialer = MultistreamDialer([protocol], optimistic=False)
        self.send(dialer.data_to_send())
        while True:
            data = await self.recv()
            assert data, "the host closed the connection during muxer negotiation"
            dialer.receive_data(data)
            if out := dialer.data_to_send():
                self.send(out)
            event = dialer.next_event()
            if isinstance(event, ProtocolAgreed):
                return dialer.unused_data()
            assert event is None, event


Frame = tuple[int, int, int, int, "bytes | None"]


class YamuxClient:
    """The dialer's end of a yamux session, frame by frame. Answers the host's pings, refuses its
    streams (identify) with RST, and hands every other frame to the test."""

    def __init__(self, secure: SecurePeer) -> None:
        self.secure = secure
        self.decoder = YamuxFrameDecoder(MAX_STREAM_WINDOW)
        self.frames: deque[Frame] = deque()
        self.eof = False

    def send(self, *frames: bytes) -> None:
        """All frames in one Noise message: the host processes them in one go."""
        self.secure.send(b"".join(frames))

    async def next_frame(self) -> Frame | None:
        while not self.frames:
            if self.eof:
                return None
            plaintext = await self.secure.recv()
            if not plaintext:
                self.eof = True
                return None
            self.decoder.feed(plaintext)
            while (frame := self.decoder.next_frame()) is not None:
                ftype, flags, sid, length, _ = frame
                if ftype == TYPE_PING and flags & FLAG_SYN:
                    self.send(yamux_pack_header(TYPE_PING, FLAG_ACK, 0, length))
                elif ftype in (TYPE_DATA, TYPE_WINDOW_UPDATE) and flags & FLAG_SYN and sid % 2 == 0:
                    self.send(yamux_pack_header(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0))
                else:
                    self.frames.append(frame)
        return self.frames.popleft()

    async def until_closed(self, timeout: float = 5.0) -> list[Frame]:
        """Every frame until the host closes the connection; fails if it stays open."""
        out: list[Frame] = []
        async with asyncio.timeout(timeout):
            while (frame := await self.next_frame()) is not None:
                out.append(frame)
        return out

    async def wait_reset(self, sid: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.next_frame()
                assert frame is not None, f"connection closed while waiting for stream {sid}'s reset"
                if frame[2] == sid and frame[1] & FLAG_RST:
                    return

    async def echo(self, sid: int, message: bytes, *, open_stream: bool, timeout: float = 5.0) -> None:
        """Send ``message`` on ``sid`` (opening it with an optimistic /echo/1.0.0 proposal) and
        check it comes back."""
        payload = message
        expected = message
        if open_stream:
            proposal = encode_message(MULTISTREAM) + encode_message(ECHO)
            payload = proposal + message
            expected = proposal + message  # the header and the echoed proposal, then the data
        self.send(ydata(sid, payload, FLAG_SYN if open_stream else 0))
        received = bytearray()
        async with asyncio.timeout(timeout):
            while len(received) < len(expected):
                frame = await self.next_frame()
                assert frame is not None, f"connection closed during the echo on stream {sid}"
                ftype, flags, fsid, _, data = frame
                if fsid != sid:
                    continue
                assert not flags & FLAG_RST, f"stream {sid} was reset"
                if ftype == TYPE_DATA and data:
                    received += data
        assert bytes(received) == expected


def ydata(sid: int, payload: bytes, flags: int = 0) -> bytes:
    return yamux_pack_header(TYPE_DATA, flags, sid, len(payload)) + payload


def ywindow(sid: int, flags: int, delta: int = 0) -> bytes:
    return yamux_pack_header(TYPE_WINDOW_UPDATE, flags, sid, delta)


@asynccontextmanager
async def secure_peer(target: Host, muxers: Sequence[str] = (YAMUX,)) -> AsyncIterator[SecurePeer]:
    async with raw_peer(target) as raw:
        secure = await SecurePeer.handshake(raw, muxers)
        # The host registers the connection once its side of the upgrade finished.
        await eventually(lambda: bool(target.connections(secure.peer_id)))
        yield secure


@asynccontextmanager
async def yamux_client(target: Host) -> AsyncIterator[tuple[YamuxClient, MuxedConnection]]:
    async with secure_peer(target, (YAMUX,)) as secure:
        assert secure.muxer == YAMUX
        yield YamuxClient(secure), the_connection(target, secure.peer_id)


async def assert_connection_failed(
    conn: MuxedConnection, expected: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    """The host closed ``conn`` because of a typed ``expected`` error and logged a WARNING."""
    async with asyncio.timeout(5):
        await conn.wait_closed()
    assert isinstance(conn.close_reason, expected), repr(conn.close_reason)
    await wait_for_warning(caplog, str(conn.remote_peer_id))


# --- malformed multistream-select ---------------------------------------------------------------

HEADER = encode_message(MULTISTREAM)

# (payload, typed error): each one is a protocol violation the listener must refuse.
BAD_MULTISTREAM = {
    "no-newline": (b"\x13/multistream/1.0.0X", MissingNewlineError),
    "bad-varint-nonminimal": (b"\x80\x00", MessageDecodeError),
    "bad-varint-overlong": (b"\xff" * 10, MessageDecodeError),
    "non-utf8": (HEADER + b"\x04\xff\xfe\xfd\n", MessageDecodeError),
    "oversized-line": (varint_encode(2000) + b"/" + b"a" * 1998 + b"\n", MessageTooLargeError),
    "oversized-line-after-header": (
        HEADER + varint_encode(1025) + b"/" + b"b" * 1023 + b"\n",
        MessageTooLargeError,
    ),
    "empty-message": (b"\x00", EmptyMessageError),
    "wrong-header": (encode_message("/multistream/2.0.0"), IncorrectVersionError),
}


@pytest.mark.parametrize("case", list(BAD_MULTISTREAM))
async def test_connection_multistream_garbage(case: str, caplog: pytest.LogCaptureFixture) -> None:
    payload, expected = BAD_MULTISTREAM[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as peer:
            peer.write(payload)
            received = await peer.read_until_closed()
        assert not received.startswith(HEADER + encode_message(NOISE))  # nothing was agreed
        error = await spy.error()
        assert isinstance(error, expected), repr(error)
        assert isinstance(error, NegotiationError)
        await wait_for_warning(caplog, "inbound upgrade", type(error).__name__)
        assert host.connections() == []
        await assert_serves(host)


@pytest.mark.parametrize("case", list(BAD_MULTISTREAM))
async def test_stream_multistream_garbage(
    case: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload, expected = BAD_MULTISTREAM[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = NegotiationSpy(monkeypatch)
        async with yamux_client(host) as (client, conn):
            client.send(ydata(1, payload, FLAG_SYN))
            await client.wait_reset(1)
            error = await spy.error()
            assert isinstance(error, expected), repr(error)
            await wait_for_warning(caplog, str(client.secure.peer_id), type(error).__name__)
            # Only that stream died: the same connection still serves a new one.
            assert not conn.is_closed
            await client.echo(3, b"still here", open_stream=True)
        await assert_serves(host)


async def test_muxer_negotiation_garbage(caplog: pytest.LogCaptureFixture) -> None:
    """No early muxer negotiation: the second multistream round runs over Noise; garbage there."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            secure = await SecurePeer.handshake(raw, muxers=())
            assert secure.muxer is None
            secure.send(HEADER + varint_encode(4000) + b"x" * 4000)
            assert await raw.read_until_closed() == b""
        error = await spy.error()
        assert isinstance(error, MessageTooLargeError), repr(error)
        await wait_for_warning(caplog, "inbound upgrade", "MessageTooLargeError")
        assert host.connections() == []
        await assert_serves(host)


async def test_muxer_negotiation_over_noise_then_echo() -> None:
    """The fallback path itself works with a hand-written client (sanity for the case above)."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host, raw_peer(host) as raw:
        secure = await SecurePeer.handshake(raw, muxers=())
        leftover = await secure.select(YAMUX)
        assert leftover == b""
        await eventually(lambda: bool(host.connections(secure.peer_id)))
        client = YamuxClient(secure)
        await client.echo(1, b"hello", open_stream=True)


# --- Noise ------------------------------------------------------------------------------------------


NOISE_GARBAGE = {
    # A well-framed message whose tag does not verify.
    "bad-tag": b"\x00\x40" + os.urandom(64),
    # Shorter than the 16-byte tag.
    "shorter-than-tag": b"\x00\x05" + os.urandom(5),
    # The largest frame u16 framing can declare (65535 is also the limit, so no Noise frame can be
    # "oversized" on the wire): 64 KiB of garbage is read whole, then fails authentication.
    "max-size-garbage": b"\xff\xff" + os.urandom(65535),
}


@pytest.mark.parametrize("case", list(NOISE_GARBAGE))
async def test_noise_garbage_after_handshake(case: str, caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        async with yamux_client(host) as (client, conn):
            client.secure.raw.write(NOISE_GARBAGE[case])
            await client.secure.raw.read_until_closed()
            await assert_connection_failed(conn, DecryptError, caplog)
        assert host.connections() == []
        await assert_serves(host)


async def test_noise_valid_then_replayed_message(caplog: pytest.LogCaptureFixture) -> None:
    """A replayed transport message fails: its nonce is behind the decryptor's."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        async with yamux_client(host) as (client, conn):
            message = client.secure.encryptor.encrypt(yamux_pack_header(TYPE_PING, FLAG_SYN, 0, 7))
            client.secure.raw.write(message + message)
            await client.secure.raw.read_until_closed()
            await assert_connection_failed(conn, DecryptError, caplog)
        await assert_serves(host)


async def _drive_xx(raw: RawPeer, payload: Callable[[HandshakeState], bytes]) -> None:
    """An initiator that runs the XX pattern itself and sends ``payload(hs)`` in message 3."""
    await raw.select(NOISE)
    hs = HandshakeState(initiator=True)
    msg1 = hs.write_message(b"")
    raw.write(len(msg1).to_bytes(2, "big") + msg1)
    buf = bytearray()
    while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
        data = await raw.read()
        assert data, "the host closed the connection before message 2"
        buf += data
    hs.read_message(bytes(buf[2 : 2 + int.from_bytes(buf[:2], "big")]))
    msg3 = hs.write_message(payload(hs))
    raw.write(len(msg3).to_bytes(2, "big") + msg3)


def _payload(key: PrivateKey, signed: bytes) -> bytes:
    pb = noise_pb2.NoiseHandshakePayload()
    pb.identity_key = key.public_key.marshal()
    pb.identity_sig = key.sign(signed)
    return pb.SerializeToString()


def _signed_by_another_identity(hs: HandshakeState) -> bytes:
    """A valid signature over our static key, next to someone else's identity key."""
    pb = noise_pb2.NoiseHandshakePayload()
    pb.ParseFromString(_payload(generate_key_pair(), STATIC_KEY_DOMAIN + hs.static_public_key))
    pb.identity_key = generate_key_pair().public_key.marshal()
    return pb.SerializeToString()


BAD_PAYLOADS: dict[str, tuple[Callable[[HandshakeState], bytes], type[Exception]]] = {
    # Signed over a different static key than the one in the handshake.
    "signature-over-other-key": (
        lambda hs: _payload(generate_key_pair(), STATIC_KEY_DOMAIN + os.urandom(32)),
        InvalidHandshakeSignatureError,
    ),
    # The right static key, without the domain prefix.
    "signature-without-domain": (
        lambda hs: _payload(generate_key_pair(), hs.static_public_key),
        InvalidHandshakeSignatureError,
    ),
    # Someone else's identity key with our signature.
    "signature-by-another-identity": (_signed_by_another_identity, InvalidHandshakeSignatureError),
    "payload-not-protobuf": (lambda hs: b"\xff\xff\xff\xff", InvalidHandshakePayloadError),
    "payload-empty": (lambda hs: b"", InvalidHandshakePayloadError),
}


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
async def test_noise_bad_handshake_payload(case: str, caplog: pytest.LogCaptureFixture) -> None:
    payload, expected = BAD_PAYLOADS[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            await _drive_xx(raw, payload)
            assert await raw.read_until_closed() == b""
        error = await spy.error()
        assert isinstance(error, expected), repr(error)
        await wait_for_warning(caplog, "inbound upgrade", type(error).__name__)
        assert host.connections() == []
        await assert_serves(host)


BAD_HANDSHAKE_MESSAGES = {
    # Message 1 shorter than an ephemeral key.
    "short-msg1": (b"\x00\x05" + os.urandom(5), InvalidHandshakeMessageError),
    # A low-order X25519 point (all zeros) as the ephemeral key: refused at the responder's ee.
    "low-order-ephemeral": (b"\x00\x20" + bytes(32), InvalidHandshakeMessageError),
}


@pytest.mark.parametrize("case", list(BAD_HANDSHAKE_MESSAGES))
async def test_noise_bad_handshake_message(case: str, caplog: pytest.LogCaptureFixture) -> None:
    message, expected = BAD_HANDSHAKE_MESSAGES[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            await raw.select(NOISE)
            raw.write(message)
            assert await raw.read_until_closed() == b""
        error = await spy.error()
        assert isinstance(error, expected), repr(error)
        await wait_for_warning(caplog, "inbound upgrade", type(error).__name__)
        await assert_serves(host)


async def test_noise_garbage_message3(caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            await _drive_xx(raw, lambda hs: b"")
            await raw.read_until_closed()
        error = await spy.error()
        assert isinstance(error, (InvalidHandshakePayloadError, HandshakeDecryptError)), repr(error)
        async with raw_peer(host) as raw:
            await raw.select(NOISE)
            hs = HandshakeState(initiator=True)
            msg1 = hs.write_message(b"")
            raw.write(len(msg1).to_bytes(2, "big") + msg1)
            await raw.read()
            raw.write(b"\x00\x80" + os.urandom(128))  # not encrypted under the handshake keys
            await raw.read_until_closed()
        await eventually(lambda: len(spy.errors) == 2)
        assert isinstance(spy.errors[1], HandshakeDecryptError), repr(spy.errors[1])
        await wait_for_warning(caplog, "inbound upgrade", "HandshakeDecryptError")
        await assert_serves(host)


async def test_peer_id_mismatch(caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as target, new_host() as dialer:
        spy = UpgradeSpy(target)
        impostor = PeerId.from_public_key(generate_key_pair().public_key)
        addr = target.addrs[0].encapsulate(Multiaddr(f"/p2p/{impostor}"))
        with pytest.raises(PeerIdMismatchError) as info:
            await dialer.connect(addr)
        assert info.value.expected == impostor and info.value.actual == target.peer_id
        assert isinstance(info.value, RemoteProtocolError)
        assert dialer.connections() == []
        await wait_for_warning(caplog, str(impostor), str(target.peer_id))
        # The target's upgrade of that connection ended in an error (the dialer aborted
        # mid-handshake), so it registered nothing either, and never will.
        await spy.error()
        assert len(spy.errors) == 1
        assert target.connections() == [] and dialer.connections() == []
        # The same dialer reaches the real peer afterwards.
        await dialer.connect(target.full_addrs()[0])
        stream = await dialer.new_stream(target.peer_id, [ECHO])
        await stream.write(b"ok")
        await stream.close()
        assert await stream.readexactly(2) == b"ok"
        await assert_serves(target)


# --- yamux ------------------------------------------------------------------------------------------


def _window_exceeded() -> list[bytes]:
    return [ydata(1, b"", FLAG_SYN), ydata(1, b"\x00" * (INITIAL_STREAM_WINDOW + 1))]


YAMUX_VIOLATIONS: dict[str, tuple[Callable[[], list[bytes]], type[YamuxProtocolError]]] = {
    "unknown-frame-type": (
        lambda: [yamux_pack_header(0, 0, 0, 0)[:1] + b"\x07" + bytes(10)],
        InvalidFrameTypeError,
    ),
    "bad-version": (
        lambda: [b"\x01" + yamux_pack_header(TYPE_PING, FLAG_SYN, 0, 1)[1:]],
        InvalidVersionError,
    ),
    "data-beyond-window": (_window_exceeded, ReceiveWindowExceededError),
    "data-after-fin": (lambda: [ywindow(1, FLAG_SYN | FLAG_FIN), ydata(1, b"late")], DataAfterFinError),
    "data-on-unknown-stream": (lambda: [ydata(41, b"who?")], UnknownStreamError),
    "window-update-on-unknown-stream": (lambda: [ywindow(41, 0, 1000)], UnknownStreamError),
    "syn-with-listener-parity": (lambda: [ywindow(200, FLAG_SYN)], InvalidStreamIdError),
    "syn-on-stream-zero": (lambda: [ywindow(0, FLAG_SYN)], InvalidStreamIdError),
    "duplicate-syn": (lambda: [ywindow(1, FLAG_SYN), ywindow(1, FLAG_SYN)], DuplicateStreamError),
}


@pytest.mark.parametrize("case", list(YAMUX_VIOLATIONS))
async def test_yamux_violation(case: str, caplog: pytest.LogCaptureFixture) -> None:
    frames, expected = YAMUX_VIOLATIONS[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        async with yamux_client(host) as (client, conn):
            client.send(*frames())
            received = await client.until_closed()
            goaways = [f for f in received if f[0] == TYPE_GO_AWAY]
            assert goaways and goaways[-1][3] == GO_AWAY_PROTOCOL_ERROR, received
            await assert_connection_failed(conn, expected, caplog)
        assert host.connections() == []
        await assert_serves(host)


async def test_violation_by_a_peer_that_stops_reading(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host closes the connection even when the peer never reads what is queued for it."""
    monkeypatch.setattr(transport_connection, "_CLOSE_GRACE", 0.5)
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        endpoint = tcp_endpoint(host.addrs[0])
        assert endpoint is not None
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, endpoint[:2])
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        async with contextlib.aclosing(_Closing(RawPeer(reader, writer))) as closing:
            secure = await SecurePeer.handshake(closing.peer, (YAMUX,))
            await eventually(lambda: bool(host.connections(secure.peer_id)))
            conn = the_connection(host, secure.peer_id)
            client = YamuxClient(secure)
            # Echo streams fill the host's socket and write buffer; we read none of it.
            proposal = encode_message(MULTISTREAM) + encode_message(ECHO)
            for i in range(40):
                client.send(ydata(2 * i + 1, proposal + os.urandom(200_000), FLAG_SYN))
            await eventually(lambda: conn.raw.write_paused)
            client.send(ydata(1001, b"who?"))  # a violation: unknown stream
            await assert_connection_failed(conn, UnknownStreamError, caplog)
            # Its GoAway cannot be delivered: the socket is aborted after the grace period.
            async with asyncio.timeout(3):
                await conn.raw.wait_closed()
        assert host.connections() == []
        await assert_serves(host)


class _Closing:
    def __init__(self, peer: RawPeer) -> None:
        self.peer = peer

    async def aclose(self) -> None:
        self.peer.writer.transport.abort()
        await self.peer.close()


# --- mplex ------------------------------------------------------------------------------------------

MPLEX_VIOLATIONS: dict[str, tuple[bytes, type[MplexDecodeError]]] = {
    # A message declaring 1 MiB + 1: refused from its header, before any payload is buffered.
    "oversized-message": (
        varint_encode(0 << 3 | FLAG_MESSAGE_INITIATOR) + varint_encode((1 << 20) + 1),
        MplexFrameTooLargeError,
    ),
    "oversized-new-stream": (
        varint_encode(FLAG_NEW_STREAM) + varint_encode(1 << 30),
        MplexFrameTooLargeError,
    ),
    "flag-7": (varint_encode(5 << 3 | 7) + b"\x00", MplexInvalidFlagError),
}


@pytest.mark.parametrize("case", list(MPLEX_VIOLATIONS))
async def test_mplex_violation(case: str, caplog: pytest.LogCaptureFixture) -> None:
    frame, expected = MPLEX_VIOLATIONS[case]
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        async with secure_peer(host, (MPLEX,)) as secure:
            assert secure.muxer == MPLEX
            conn = the_connection(host, secure.peer_id)
            secure.send(mplex_pack_header(0, FLAG_NEW_STREAM, 0) + frame)
            await secure.raw.read_until_closed()
            await assert_connection_failed(conn, expected, caplog)
        assert host.connections() == []
        await assert_serves(host)


# --- stalled handshakes and limits ------------------------------------------------------------------


async def _stall_silent(raw: RawPeer) -> None:
    return None


async def _stall_in_multistream(raw: RawPeer) -> None:
    raw.write(HEADER)


async def _stall_in_partial_varint(raw: RawPeer) -> None:
    raw.write(b"\x80")


async def _stall_after_noise_msg1(raw: RawPeer) -> None:
    await raw.select(NOISE)
    hs = NoiseHandshake(True, generate_key_pair())
    raw.write(hs.data_to_send())
    assert await raw.read()  # message 2 arrives; message 3 never comes


async def _stall_mid_frame(raw: RawPeer) -> None:
    await raw.select(NOISE)
    raw.write(b"\x00\x20" + bytes(10))  # 10 of the 32 bytes message 1 announced


STALLS: dict[str, Callable[[RawPeer], Awaitable[None]]] = {
    "silent": _stall_silent,
    "in-multistream": _stall_in_multistream,
    "partial-varint": _stall_in_partial_varint,
    "after-noise-msg1": _stall_after_noise_msg1,
    "mid-noise-frame": _stall_mid_frame,
}


@pytest.mark.parametrize("case", list(STALLS))
async def test_stalled_handshake_times_out(case: str, caplog: pytest.LogCaptureFixture) -> None:
    # One pending-handshake slot: the normal peer at the end proves the slot was released.
    async with (
        asyncio.timeout(TEST_TIMEOUT),
        listening_host(upgrade_timeout=0.5, max_pending_inbound=1) as host,
    ):
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            await STALLS[case](raw)
            # the host closes the connection (5 s is only the safety net), and for the timeout:
            # not because of anything the stalled peer sent
            await raw.read_until_closed(timeout=5.0)
        error = await spy.error()
        assert isinstance(error, UpgradeError) and "timed out" in str(error), repr(error)
        assert len(spy.errors) == 1
        await wait_for_warning(caplog, "inbound upgrade", "timed out")
        await assert_serves(host)


async def test_pending_inbound_limit() -> None:
    """Silent connections fill the handshake slots; each newcomer drops the idlest of them, so a
    client that speaks still gets in while they are all open."""
    limit = 2
    extra = 3
    async with (
        asyncio.timeout(TEST_TIMEOUT),
        listening_host(upgrade_timeout=10.0, max_pending_inbound=limit) as host,
    ):
        # Open them all at once: the host must count slots as connections arrive, not when their
        # handshake task first runs.
        peers = await asyncio.gather(*(RawPeer.open(host) for _ in range(limit + extra)))
        try:
            closed = [asyncio.ensure_future(p.read_until_closed(timeout=8.0)) for p in peers]
            # The three oldest silent ones make room for the newer ones, long before the timeout.
            await eventually(lambda: sum(f.done() for f in closed) >= 3, timeout=5.0)
            assert host.swarm.evicted_handshakes == 3
            assert host.swarm.pending_inbound == limit
            # With every slot taken by a silent connection, a good client is still served.
            await assert_serves(host)
            assert host.swarm.evicted_handshakes == 4
            for future in closed:
                future.cancel()
            await asyncio.gather(*closed, return_exceptions=True)
        finally:
            for peer in peers:
                await peer.close()
        # Every slot came back: `limit` normal peers can connect at the same time.
        await eventually(lambda: host.swarm.pending_inbound == 0)
        await asyncio.gather(*(assert_serves(host) for _ in range(limit)))


async def test_max_inbound_streams(caplog: pytest.LogCaptureFixture) -> None:
    limits = ResourceLimits.scaled().with_overrides(peer=ScopeLimit(streams_inbound=2))
    async with asyncio.timeout(TEST_TIMEOUT), listening_host(resource_limits=limits) as host:
        async with yamux_client(host) as (client, conn):
            await client.echo(1, b"first", open_stream=True)
            await client.echo(3, b"second", open_stream=True)
            client.send(ydata(5, encode_message(MULTISTREAM) + encode_message(ECHO) + b"third", FLAG_SYN))
            await client.wait_reset(5)
            client.send(ydata(7, encode_message(MULTISTREAM) + encode_message(ECHO) + b"fourth", FLAG_SYN))
            await client.wait_reset(7)
            await wait_for_warning(caplog, str(client.secure.peer_id), "streams_inbound")
            assert host.resources.refusals["peer:streams_inbound"] == 2
            # The earlier streams keep working, and so does the connection.
            await client.echo(1, b"first again", open_stream=False)
            await client.echo(3, b"second again", open_stream=False)
            assert not conn.is_closed
            # Closing one frees a slot for a new stream.
            client.send(ydata(1, b"", FLAG_FIN))
            await eventually(lambda: len([s for s in conn.streams if not s.outbound]) < 2)
            await client.echo(9, b"fifth", open_stream=True)
        await assert_serves(host)


async def test_host_close_with_pending_handshakes() -> None:
    """Closing the host while handshakes stall closes their sockets too."""
    async with asyncio.timeout(TEST_TIMEOUT):
        async with listening_host(upgrade_timeout=30.0) as host:
            peers = [await RawPeer.open(host) for _ in range(3)]
            await eventually(lambda: host.swarm.pending_inbound >= 3)
        try:
            for peer in peers:
                assert await peer.read_until_closed(timeout=2.0) == b""
        finally:
            for peer in peers:
                await peer.close()


def test_errors_are_typed() -> None:
    """Every error asserted above belongs to the library's hierarchy."""
    for exc in (
        MissingNewlineError,
        MessageTooLargeError,
        DecryptError,
        InvalidHandshakeSignatureError,
        PeerIdMismatchError,
        UnknownStreamError,
        MplexFrameTooLargeError,
        UpgradeError,
    ):
        assert issubclass(exc, Libp2pError)
    assert issubclass(MessageDecodeError, DecodeError)
