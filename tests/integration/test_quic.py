"""QUIC v1 between hosts on loopback: ping/identify/echo, the shared socket, QUIC preferred over
TCP, peer checks, bad certificates and floods refused while the listener keeps serving, limits,
keep-alive and idle timeout. And the aioquic private hooks, which must fail loudly on upgrade."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

import aioquic
import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicProtocolVersion

from libp2p.errors import PeerIdMismatchError
from libp2p.muxer.connection import StreamClosedError, StreamResetError
from libp2p.host.host import Host
from libp2p.identity.keys import KeyType, PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.peerstore import PeerInfo
from libp2p.protocols.echo import EchoService
from libp2p.resources import ResourceLimits, ScopeLimit
from libp2p.security.tls.core import Credentials
from libp2p.transport.quic import MUXER_ID, QuicConfig, QuicTransport
from libp2p.transport.quic._aioquic_hooks import AIOQUIC_VERSION, check_hooks
from libp2p.transport.tcp import DialError, TcpTransport
from tests.security import tls_certs

QUIC = "/ip4/127.0.0.1/udp/0/quic-v1"
TCP = "/ip4/127.0.0.1/tcp/0"
ECHO = "/echo/1.0.0"
TIMEOUT = 30.0


async def _echo(host: Host, peer: PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, [ECHO])
    reader = asyncio.ensure_future(stream.readexactly(len(data)))
    await stream.write(data)
    await stream.close()
    async with asyncio.timeout(TIMEOUT):
        return await reader


async def _eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


def test_aioquic_hooks_still_fit() -> None:
    """Fails loudly when an aioquic upgrade moves a private hook (pin and review before bumping)."""
    assert aioquic.__version__ == AIOQUIC_VERSION, f"aioquic {aioquic.__version__}: review _aioquic_hooks first"
    check_hooks()


async def test_ping_identify_echo_over_quic() -> None:
    key = generate_key_pair(KeyType.ECDSA)
    async with asyncio.timeout(TIMEOUT), \
            new_host(key, [QUIC], transports=[QuicTransport()], services=[EchoService()]) as a, \
            new_host(transports=[QuicTransport()]) as b:
        assert a.addrs[0].value_for_protocol("udp") != "0"
        assert await b.connect(a.full_addrs()[0]) == a.peer_id
        conn = b.connections(a.peer_id)[0]
        assert conn.muxer_id == MUXER_ID and conn.remote_public_key == key.public_key
        assert len(await b.services["ping"].ping(a.peer_id, 3)) == 3
        info = await b.services["identify"].identify(a.peer_id)
        assert ECHO in (info.protocols or []) and info.certified_addrs == a.addrs
        assert info.observed_addr is not None and str(info.observed_addr).endswith("/quic-v1")
        data = os.urandom(4 << 20)
        assert await _echo(b, a.peer_id, data) == data
        # many concurrent streams
        results = await asyncio.gather(*(_echo(b, a.peer_id, bytes([i]) * 1000) for i in range(50)))
        assert results == [bytes([i]) * 1000 for i in range(50)]
        await _eventually(lambda: "/ipfs/ping/1.0.0" in a.peerstore.protocols(b.peer_id))


async def test_dials_leave_from_the_listen_socket() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as a, \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()]) as b:
        await b.connect(a.full_addrs()[0])
        await _eventually(lambda: bool(a.connections(b.peer_id)))
        seen_by_a = a.connections(b.peer_id)[0].remote_addr
        assert seen_by_a is not None
        assert seen_by_a.value_for_protocol("udp") == b.addrs[0].value_for_protocol("udp")
        assert await _echo(b, a.peer_id, b"same port") == b"same port"


async def test_quic_preferred_over_tcp() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[TCP, QUIC], transports=[TcpTransport(), QuicTransport()],
                     services=[EchoService()]) as a, \
            new_host(transports=[TcpTransport(), QuicTransport()]) as b:
        tcp_addr = next(x for x in a.addrs if "/tcp/" in str(x))
        quic_addr = next(x for x in a.addrs if "/quic-v1" in str(x))
        await b.connect(PeerInfo(a.peer_id, [tcp_addr, quic_addr]))  # TCP listed first
        assert b.connections(a.peer_id)[0].muxer_id == MUXER_ID
        assert await _echo(b, a.peer_id, b"quic") == b"quic"


async def test_dial_to_x_reaching_y_fails() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[QUIC], transports=[QuicTransport()]) as y, \
            new_host(transports=[QuicTransport()]) as b:
        x = PeerId.from_public_key(generate_key_pair().public_key)
        with pytest.raises(PeerIdMismatchError):
            await b.connect(Multiaddr(f"{y.addrs[0]}/p2p/{x}"))
        assert not b.connections() and not y.connections()


async def test_dial_to_a_silent_port_times_out() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        transport = QuicTransport(QuicConfig(handshake_timeout=0.5))
        async with new_host(transports=[transport]) as b:
            peer = PeerId.from_public_key(generate_key_pair().public_key)
            with pytest.raises(DialError):
                await b.connect(Multiaddr(f"/ip4/127.0.0.1/udp/{port}/quic-v1/p2p/{peer}"))


class _PresentingTransport(QuicTransport):
    """A QUIC client presenting chosen credentials (a bad certificate, or none)."""

    def __init__(self, make: Callable[[PrivateKey], Credentials]) -> None:
        super().__init__()
        self._make = make

    def _configuration(self, is_client: bool) -> QuicConfiguration:
        configuration = super()._configuration(is_client)
        assert self._key is not None
        creds = self._make(self._key)
        configuration.certificate = creds.certificate
        configuration.private_key = creds.key
        configuration.certificate_chain = list(creds.extra_chain)
        return configuration


REFUSALS = {
    "no-certificate": "MissingCertificateError",
    "no-extension": "MissingExtensionError",
    "two-extensions": "DuplicateExtensionError",
    "expired": "CertificateExpiredError",
    "signed-key-by-another-key": "InvalidSignedKeyError",
    "self-signature-by-another-key": "InvalidCertificateSignatureError",
    "chain-of-two": "CertificateChainError",
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_bad_client_certificate_refused_and_listener_keeps_serving(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "libp2p.transport.quic")
    make = tls_certs.no_certificate if case == "no-certificate" else tls_certs.BAD[case]
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as a:
        async with new_host(transports=[_PresentingTransport(make)]) as bad:
            with pytest.raises(Exception):
                await bad.connect(a.full_addrs()[0])
                # TLS 1.3: the client may finish first; the server's refusal closes it right after
                await _eventually(lambda: not bad.connections())
                raise ConnectionError("refused after the handshake")
        await _eventually(lambda: any("inbound QUIC handshake" in r.getMessage() for r in caplog.records))
        refusal = next(r.getMessage() for r in caplog.records if "inbound QUIC handshake" in r.getMessage())
        assert f"{REFUSALS[case]}:" in refusal
        assert not a.connections()
        async with new_host(transports=[QuicTransport()]) as good:
            await good.connect(a.full_addrs()[0])
            assert await _echo(good, a.peer_id, b"still serving") == b"still serving"


SERVER_REFUSALS = {
    "no-extension": "lacks the libp2p extension",
    "two-extensions": "repeats extension",
    "expired": "certificate valid",
    "signed-key-by-another-key": "does not cover the certificate key",
    "self-signature-by-another-key": "not self-signed",
    "chain-of-two": "sent 2 certificates",
}


@pytest.mark.parametrize("case", list(SERVER_REFUSALS))
async def test_client_refuses_a_bad_server_certificate(case: str) -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[_PresentingTransport(tls_certs.BAD[case])]) as a, \
            new_host(transports=[QuicTransport()]) as b:
        with pytest.raises(Exception) as info:
            await b.connect(a.full_addrs()[0])
        assert SERVER_REFUSALS[case] in str(info.value)
        assert not b.connections()


def _initial_datagram(port: int) -> bytes:
    """A genuine client Initial (what a flood of half-open handshakes sends, once each)."""
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=["libp2p"], verify_mode=ssl.CERT_NONE,
        supported_versions=[QuicProtocolVersion.VERSION_1],
    )
    quic = QuicConnection(configuration=configuration)
    quic.connect(("127.0.0.1", port), now=0.0)
    return quic.datagrams_to_send(now=0.0)[0][0]


async def test_initial_flood_from_many_ports_does_not_lock_out_a_client() -> None:
    transport = QuicTransport(QuicConfig(max_pending_handshakes=8))
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[transport], services=[EchoService()]) as a:
        port = int(a.addrs[0].value_for_protocol("udp") or 0)
        senders = []
        try:
            for _ in range(40):  # 40 source ports, each starting a handshake it never finishes
                sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
                senders.append(sender)
                sender.sendto(_initial_datagram(port), ("127.0.0.1", port))
            endpoint = transport.listen_endpoints[0]
            await _eventually(lambda: endpoint.evicted_handshakes >= 40 - 8)
            async with new_host(transports=[QuicTransport()]) as good:
                await good.connect(a.full_addrs()[0])
                assert await _echo(good, a.peer_id, b"served") == b"served"
        finally:
            for sender in senders:
                sender.close()


async def test_stream_limit_abuse_resets_the_excess_and_keeps_the_connection() -> None:
    limits = ResourceLimits.scaled().with_overrides(peer=ScopeLimit(streams_inbound=4, streams=8, memory=64 << 20,
                                                                    conns=4, conns_inbound=4, conns_outbound=4))
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()],
                     resource_limits=limits) as a, \
            new_host(transports=[QuicTransport()]) as b:
        await b.connect(a.full_addrs()[0])
        await b.services["identify"].identify(a.peer_id)
        await _eventually(lambda: not a.connections(b.peer_id)[0].streams)
        held = []
        refused = 0
        for _ in range(12):  # hold streams open: beyond the limit, new ones are reset
            try:
                stream = await b.new_stream(a.peer_id, [ECHO])
                await stream.write(b"x")
                assert await stream.read(1) == b"x"
                held.append(stream)
            except Exception:  # noqa: BLE001 - a refused stream
                refused += 1
        assert 1 <= len(held) <= 4 and refused >= 8
        assert a.resources.refusals["peer:streams_inbound"] >= 8  # counted by the resource manager
        await held[0].write(b"alive")
        assert await held[0].readexactly(5) == b"alive"


async def test_keep_alive_keeps_an_idle_connection_open() -> None:
    # keep-alives at 1/8 of the idle timeout: a loaded machine's scheduling stalls do not lose them all
    config = QuicConfig(idle_timeout=2.0, keep_alive=0.25)
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport(config)], services=[EchoService()]) as a, \
            new_host(transports=[QuicTransport(config)]) as b:
        await b.connect(a.full_addrs()[0])
        conn = b.connections(a.peer_id)[0]
        closed = asyncio.ensure_future(conn.wait_closed())
        done, _ = await asyncio.wait([closed], timeout=5.0)  # two and a half idle timeouts pass
        assert not done and not conn.is_closed
        closed.cancel()
        assert await _echo(b, a.peer_id, b"alive") == b"alive"


async def test_idle_connection_times_out_without_keep_alive() -> None:
    config = QuicConfig(idle_timeout=0.5, keep_alive=None)
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport(config)]) as a, \
            new_host(transports=[QuicTransport(config)]) as b:
        await b.connect(a.full_addrs()[0])
        conn = b.connections(a.peer_id)[0]
        async with asyncio.timeout(10):
            await conn.wait_closed()
        await _eventually(lambda: not a.connections() and not b.connections())


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        QuicConfig(idle_timeout=10, keep_alive=20)
    with pytest.raises(ValueError):
        QuicConfig(max_pending_handshakes=0)


async def test_garbage_datagrams_do_not_disturb_the_listener() -> None:
    import random

    rng = random.Random(13)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as a:
        port = int(a.addrs[0].value_for_protocol("udp") or 0)
        sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        try:
            initial = _initial_datagram(port)
            for i in range(300):
                if i % 3 == 0:  # a real Initial with bytes flipped past its header
                    data = bytearray(initial)
                    for _ in range(8):
                        data[rng.randrange(30, len(data))] ^= 0xFF
                    sender.sendto(bytes(data), ("127.0.0.1", port))
                else:
                    sender.sendto(rng.randbytes(rng.randrange(1, 1500)), ("127.0.0.1", port))
        finally:
            sender.close()
        async with new_host(transports=[QuicTransport()]) as good:
            await good.connect(a.full_addrs()[0])
            assert await _echo(good, a.peer_id, b"fine") == b"fine"


async def test_streams_reset_or_closed_leave_nothing_behind() -> None:
    held: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()

    async def holder(stream: Any) -> None:
        await held.put(stream)
        await release.wait()

    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as a, \
            new_host(transports=[QuicTransport()]) as b:
        a.set_stream_handler("/hold/1.0.0", holder)
        await b.connect(a.full_addrs()[0])
        outs = [await b.new_stream(a.peer_id, ["/hold/1.0.0"]) for _ in range(5)]
        for out in outs:
            await out.write(b"x")
        ins = [await held.get() for _ in range(5)]
        for out in outs[:3]:
            await out.reset()  # reset by the remote while the handler still holds the stream
        for out in outs[3:]:
            await out.close()
        await _eventually(lambda: all(s.is_reset for s in ins[:3]))
        release.set()  # the handlers return: the host closes (or finds reset) every stream
        conn_a, conn_b = a.connections(b.peer_id)[0], b.connections(a.peer_id)[0]
        await _eventually(lambda: not conn_a.streams and not conn_b.streams)
        assert await _echo(b, a.peer_id, b"after") == b"after"


async def test_a_read_takes_every_buffered_packet_up_to_its_size() -> None:
    """Data that arrived in many QUIC packets while nobody read comes out in reads of up to ``n``
    bytes (not one packet per read), in order, and never more than ``n``."""
    data = os.urandom(200_000)  # ~170 packets of at most 1200 bytes
    arrived = asyncio.Event()
    reads: list[bytes] = []

    async def sink(stream: Any) -> None:
        await arrived.wait()
        reads.append(await stream.read(1000))
        while chunk := await stream.read(1 << 20):
            reads.append(chunk)

    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[QUIC], transports=[QuicTransport()]) as a, \
            new_host(transports=[QuicTransport()]) as b:
        a.set_stream_handler("/sink/1.0.0", sink)
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/sink/1.0.0"])
        await stream.write(data)
        await stream.close()
        conn = a.connections(b.peer_id)[0]
        # all of it has arrived (what negotiation read ahead waits in the pushback)
        await _eventually(lambda: any(s._eof and s._buffered + len(s._pushback) == len(data)  # type: ignore[attr-defined]
                                      for s in conn.streams))
        arrived.set()
        await _eventually(lambda: sum(map(len, reads)) == len(data))
        assert b"".join(reads) == data
        assert len(reads[0]) == 1000
        # the rest: what negotiation read ahead, then every other packet in one read of up to 1 MiB
        assert len(reads) <= 3, [len(r) for r in reads]


async def test_quic_stream_write_nowait_write_soon_close_soon() -> None:
    """A QUIC stream has the muxed stream's non-waiting writes too (pubsub writes RPCs with them)."""
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as a, \
            new_host(transports=[QuicTransport()]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [ECHO])
        parts = [os.urandom(n) for n in (10, 3000, 1 << 20, 7)]
        reader = asyncio.ensure_future(stream.readexactly(sum(map(len, parts))))
        for part in parts:
            taken = stream.write_nowait(part)
            assert taken in (0, len(part))  # QUIC takes all of it, or nothing while backed up
            if taken == 0:
                await stream.write_soon(part)
        assert stream.write_nowait(b"") == 0
        await stream.close_soon()
        assert await reader == b"".join(parts)
        with pytest.raises(StreamClosedError):
            stream.write_nowait(b"after close")
        other = await b.new_stream(a.peer_id, [ECHO])
        await other.reset()
        with pytest.raises(StreamResetError):
            other.write_nowait(b"x")
