"""What a new application developer runs into first (issue 17, item 2): typed errors, forgiving
arguments, handlers checked at registration, one connection when two peers dial each other."""

from __future__ import annotations

import asyncio
import importlib.metadata
import subprocess
import sys

import pytest

import libp2p
from libp2p.errors import ArgumentTypeError, Libp2pError, MissingPeerIdError
from libp2p.host.events import ConnectionClosed, ConnectionOpened, PeerConnected, PeerDisconnected
from libp2p.host.host import AGENT_VERSION, Host
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def test_connect_without_peer_id_raises_a_library_error() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        with pytest.raises(MissingPeerIdError, match="/p2p/") as caught:
            await b.connect(str(a.addrs[0]))
        assert isinstance(caught.value, Libp2pError)


async def test_listen_addrs_may_be_one_string() -> None:
    async with new_host(listen_addrs=LOOPBACK) as a:
        assert len(a.addrs) == 1 and a.addrs[0].value_for_protocol("tcp") != "0"


async def test_non_async_handler_is_refused_at_registration() -> None:
    async with new_host() as a:
        def plain(stream: object) -> None:
            pass

        with pytest.raises(ArgumentTypeError, match="async"):
            a.set_stream_handler("/plain/1.0.0", plain)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError):
            a.set_stream_handler("/none/1.0.0", None)  # type: ignore[arg-type]
        assert "/plain/1.0.0" not in a.protocols

        async def handler(stream: object) -> None:
            pass

        class Callable:
            async def __call__(self, stream: object) -> None:
                pass

        a.set_stream_handler("/async/1.0.0", handler)
        a.set_stream_handler("/object/1.0.0", Callable())
        a.set_stream_handler("/lambda/1.0.0", lambda s: asyncio.sleep(0))
        assert {"/async/1.0.0", "/object/1.0.0", "/lambda/1.0.0"} <= set(a.protocols)


def _record(host: Host) -> list[str]:
    seen: list[str] = []
    host.events.subscribe(PeerConnected, lambda e: seen.append("peer up"))
    host.events.subscribe(PeerDisconnected, lambda e: seen.append("peer down"))
    host.events.subscribe(ConnectionOpened, lambda e: seen.append("conn up"))
    host.events.subscribe(ConnectionClosed, lambda e: seen.append("conn down"))
    return seen


async def _echo(host: Host, peer: libp2p.PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, ["/echo/1.0.0"])
    await stream.write(data)
    await stream.close()
    async with asyncio.timeout(10):
        return await stream.readexactly(len(data))


async def _settle(a: Host, b: Host) -> None:
    """Until each side sees exactly one connection, and they are the same TCP connection."""
    async with asyncio.timeout(10):
        while True:
            ca, cb = a.connections(b.peer_id), b.connections(a.peer_id)
            if len(ca) == 1 and len(cb) == 1 and ca[0].local_addr == cb[0].remote_addr:
                return
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("order", ["back-to-back", "at-once"])
async def test_dialing_each_other_gives_one_connection_and_one_event(order: str) -> None:
    async with new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as b:
        seen_a, seen_b = _record(a), _record(b)
        if order == "back-to-back":
            await a.connect(a_to := b.full_addrs()[0])
            # a stream in flight on the first connection while the second one comes up
            held = await a.new_stream(b.peer_id, ["/echo/1.0.0"])
            await b.connect(a.full_addrs()[0])
            assert a_to.peer_id == b.peer_id
        else:
            await asyncio.gather(a.connect(b.full_addrs()[0]), b.connect(a.full_addrs()[0]))
            held = await a.new_stream(b.peer_id, ["/echo/1.0.0"])
        assert len(a.connections(b.peer_id)) == 1 and len(b.connections(a.peer_id)) == 1
        await _settle(a, b)
        # the stream opened before the second connection still works, whichever connection won
        await held.write(b"still here")
        await held.close()
        async with asyncio.timeout(10):
            assert await held.readexactly(10) == b"still here"
        assert await _echo(a, b.peer_id, b"a->b") == b"a->b"
        assert await _echo(b, a.peer_id, b"b->a") == b"b->a"
        # the losing connection is closed once idle; neither side saw the peer leave or come twice
        async with asyncio.timeout(10):
            while seen_a.count("conn up") != seen_a.count("conn down") + 1 or \
                    seen_b.count("conn up") != seen_b.count("conn down") + 1:
                await asyncio.sleep(0.02)
        assert seen_a.count("peer up") == 1 and seen_b.count("peer up") == 1
        assert "peer down" not in seen_a and "peer down" not in seen_b
        await _settle(a, b)


def test_library_logs_nothing_when_the_application_configured_no_logging() -> None:
    code = (
        "import logging, libp2p\n"
        "logging.getLogger('libp2p.host').warning('a warning only the application may show')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    # and it shows once the application configures logging
    proc = subprocess.run([sys.executable, "-c", "import logging; logging.basicConfig()\n" + code],
                          capture_output=True, text=True, timeout=60)
    assert "a warning only the application may show" in proc.stderr


def test_agent_version_is_the_package_version() -> None:
    assert libp2p.__version__ == importlib.metadata.version("aiolibp2p")
    assert AGENT_VERSION == f"aiolibp2p/{libp2p.__version__}"


async def test_a_relayed_connection_is_not_paired_with_a_direct_one() -> None:
    from libp2p.multiaddr import Multiaddr
    from libp2p.transport.tcp import TcpTransport
    from tests.integration.test_host_seams import SpliceRelay, SpliceTransport

    ta, tb = SpliceTransport(), SpliceTransport()
    async with asyncio.timeout(30), \
            new_host(listen_addrs=[LOOPBACK], services=[SpliceRelay()]) as relay, \
            new_host(listen_addrs=[LOOPBACK], transports=[TcpTransport(), ta]) as a, \
            new_host(listen_addrs=[LOOPBACK], transports=[TcpTransport(), tb]) as b:
        ta.host, tb.host = a, b
        await b.listen("/p2p-circuit")
        await b.connect(relay.full_addrs()[0])
        await a.connect(relay.full_addrs()[0])
        await a.connect(Multiaddr(f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{b.peer_id}"))
        async with asyncio.timeout(10):
            while not b.connections(a.peer_id):
                await asyncio.sleep(0.01)
        # b dials a directly (as DCUtR does after a hole punch; connect() would reuse the relayed
        # connection): whoever dialed, the direct one joins the relayed one, not ranked against it
        await b.swarm._dial(a.peer_id, list(a.addrs))
        relayed = ["/p2p-circuit" in str(c.remote_addr) for c in b.connections(a.peer_id)]
        assert sorted(relayed) == [False, True]
