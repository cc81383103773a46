"""libp2p TLS (/tls/1.0.0) between hosts on loopback TCP: upgrade, ALPN muxer, peer checks, bad
certificates refused while the listener keeps serving, handshake timeout."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

import pytest

from libp2p.host.host import Host, HostConfig
from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.negotiate.core import MultistreamDialer
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.security.tls import TLS, CertificateError, PeerIdMismatchError, TLSConfig, TLSHandshakeError
from libp2p.security.tls.service import tls_handshake
from libp2p.transport.tcp import TcpTransport
from tests.security import tls_certs

YAMUX, MPLEX, NOISE, TLS_ID = "/yamux/1.0.0", "/mplex/6.7.0", "/noise", "/tls/1.0.0"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def _echo(host: Host, peer: PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, ["/echo/1.0.0"])
    reader = asyncio.ensure_future(stream.readexactly(len(data)))
    await stream.write(data)
    await stream.close()
    async with asyncio.timeout(30):
        return await reader


@pytest.fixture(params=[YAMUX, MPLEX])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Host, Host, str]]:
    muxer = str(request.param)
    key = generate_key_pair(KeyType.Secp256k1)  # a non-Ed25519 host key in the extension
    async with new_host(key, [LOOPBACK], [muxer], [TLS_ID], services=[EchoService()]) as a:
        async with new_host(muxers=[muxer], security=[TLS()]) as b:
            yield a, b, muxer


async def test_ping_echo_identify_over_tls(pair: tuple[Host, Host, str]) -> None:
    a, b, muxer = pair
    assert await b.connect(a.full_addrs()[0]) == a.peer_id
    conn = b.connections(a.peer_id)[0]
    assert conn.muxer_id == muxer  # chosen through ALPN
    assert conn.remote_public_key == a.key.public_key
    assert len(await b.services["ping"].ping(a.peer_id, 3)) == 3
    data = os.urandom(1 << 20)
    assert await _echo(b, a.peer_id, data) == data
    info = await b.services["identify"].identify(a.peer_id)
    assert "/echo/1.0.0" in (info.protocols or [])
    assert info.certified_addrs == a.addrs


@pytest.mark.parametrize(
    ("listener", "dialer", "expected"),
    [
        ([NOISE, TLS_ID], [TLS_ID], TLS_ID),
        ([TLS_ID, NOISE], [NOISE], NOISE),
        ([NOISE, TLS_ID], [TLS_ID, NOISE], TLS_ID),  # the dialer's order wins
    ],
)
async def test_security_negotiated_by_preference(listener: list[str], dialer: list[str], expected: str) -> None:
    async with new_host(listen_addrs=[LOOPBACK], security=listener, services=[EchoService()]) as a:
        async with new_host(security=dialer) as b:
            await b.connect(a.full_addrs()[0])
            assert type(b.connections(a.peer_id)[0].secure).__name__ == ("TLSSession" if expected == TLS_ID else "NoiseSession")  # type: ignore[attr-defined]
            assert await _echo(b, a.peer_id, b"hi") == b"hi"


async def test_muxer_negotiated_after_tls_when_alpn_has_none_in_common() -> None:
    # the listener's only muxer is the dialer's second choice: ALPN settles on it
    async with new_host(listen_addrs=[LOOPBACK], muxers=[MPLEX], security=[TLS_ID], services=[EchoService()]) as a:
        async with new_host(muxers=[YAMUX, MPLEX], security=[TLS_ID]) as b:
            await b.connect(a.full_addrs()[0])
            assert b.connections(a.peer_id)[0].muxer_id == MPLEX
            assert await _echo(b, a.peer_id, b"mux") == b"mux"


async def test_dial_to_x_reaching_y_fails() -> None:
    async with new_host(listen_addrs=[LOOPBACK], security=[TLS_ID]) as y, new_host(security=[TLS_ID]) as b:
        x = PeerId.from_public_key(generate_key_pair().public_key)
        wrong = Multiaddr(f"{y.addrs[0]}/p2p/{x}")
        with pytest.raises(PeerIdMismatchError):
            await b.connect(wrong)
        assert not b.connections()


async def _raw_tls_client(addr: Multiaddr, credentials: tls_certs.Credentials) -> None:
    """Dial with multistream + TLS, presenting ``credentials``; returns when the server closed."""
    raw = await TcpTransport().dial(addr, 5)
    key = generate_key_pair()
    try:
        session = await tls_handshake(
            raw,
            key,
            remote_peer_id=None,
            muxers=[YAMUX],
            negotiation=MultistreamDialer([TLS_ID], optimistic=True),
            credentials=credentials,
        )
        # TLS 1.3: our side may finish before the server checked our certificate; the server's
        # alert (or close) arrives next.
        async with asyncio.timeout(10):
            while data := await raw.read():
                session.decrypt(data)
    finally:
        raw.abort()


REFUSALS = {
    "no-certificate": "MissingCertificateError",
    "no-extension": "MissingExtensionError",
    "two-extensions": "DuplicateExtensionError",
    "expired": "CertificateExpiredError",
    "not-yet-valid": "CertificateExpiredError",
    "signed-key-by-another-key": "InvalidSignedKeyError",
    "self-signature-by-another-key": "InvalidCertificateSignatureError",
    "chain-of-two": "CertificateChainError",
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_bad_client_certificate_refused_and_listener_keeps_serving(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "libp2p.host.swarm")
    make = tls_certs.no_certificate if case == "no-certificate" else tls_certs.BAD[case]
    async with new_host(listen_addrs=[LOOPBACK], security=[TLS_ID], services=[EchoService()]) as a:
        addr = a.addrs[0]
        with pytest.raises((TLSHandshakeError, EOFError, ConnectionError)):
            await _raw_tls_client(addr, make(generate_key_pair()))
            raise EOFError("the server closed the connection")  # reached only after a close
        assert not a.connections()
        async with asyncio.timeout(5):
            while not any("inbound upgrade" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
        refusal = next(r.getMessage() for r in caplog.records if "inbound upgrade" in r.getMessage())
        assert f"{REFUSALS[case]}:" in refusal
        async with new_host(security=[TLS_ID]) as good:
            await good.connect(a.full_addrs()[0])
            assert await _echo(good, a.peer_id, b"still serving") == b"still serving"


@pytest.mark.parametrize("case", list(tls_certs.BAD))
async def test_client_refuses_a_bad_server_certificate(case: str) -> None:
    """Our dial to a server presenting a bad certificate fails with a certificate error."""
    server_key = generate_key_pair()
    credentials = tls_certs.BAD[case](server_key)
    accepted: asyncio.Queue[Exception | None] = asyncio.Queue()

    def on_raw(raw: object) -> None:
        async def serve() -> None:
            from libp2p.negotiate.service import accept_protocol

            async def write(data: bytes) -> None:
                raw.write(data)  # type: ignore[attr-defined]

            try:
                await accept_protocol(raw.read, write, raw.unread, [TLS_ID], timeout=5)  # type: ignore[attr-defined]
                await tls_handshake(raw, server_key, remote_peer_id=None, muxers=[YAMUX], credentials=credentials)  # type: ignore[arg-type]
                await accepted.put(None)
            except Exception as exc:  # noqa: BLE001 - recorded for the test
                await accepted.put(exc)
            finally:
                raw.abort()  # type: ignore[attr-defined]

        asyncio.ensure_future(serve())

    listener = await TcpTransport().listen(Multiaddr(LOOPBACK), on_raw)  # type: ignore[arg-type]
    try:
        async with new_host(security=[TLS_ID]) as b:
            target = Multiaddr(f"{listener.addrs[0]}/p2p/{PeerId.from_public_key(server_key.public_key)}")
            with pytest.raises(Exception) as info:
                await b.connect(target)
            assert "certificate" in str(info.value).lower() or "Certificate" in str(info.value)
            assert not b.connections()
    finally:
        await listener.close()


async def test_handshake_timeout_drops_a_stalled_client() -> None:
    config = HostConfig(upgrade_timeout=0.5)
    async with new_host(listen_addrs=[LOOPBACK], security=[TLS(TLSConfig(handshake_timeout=0.3))], config=config) as a:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(a.addrs[0].value_for_protocol("tcp")))
        writer.write(MultistreamDialer([TLS_ID], optimistic=True).data_to_send())  # then no ClientHello
        async with asyncio.timeout(10):
            while await reader.read(4096):
                pass  # the server closes the connection once the handshake timed out
        writer.close()
        assert not a.connections()


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        TLSConfig(handshake_timeout=0)
    with pytest.raises(ValueError):
        TLSConfig(max_handshake_bytes=10)
