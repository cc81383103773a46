"""The stream semantics every muxer must give, over every transport (rust-libp2p's muxer harness idea)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from libp2p.host.host import Host
from libp2p.node import new_host
from libp2p.muxer.connection import MuxedStream, StreamClosedError, StreamResetError
from libp2p.transport.memory import MemoryNetwork, MemoryTransport
from libp2p.transport.tcp import TcpTransport

MUXERS = ["/yamux/1.0.0", "/mplex/6.7.0"]
SECURITY = ["/noise", "/tls/1.0.0"]


@pytest.fixture(
    params=[(m, t, s) for m in MUXERS for t in ("tcp", "memory") for s in SECURITY],
    ids=lambda p: f"{p[0].split('/')[1]}-{p[1]}-{p[2].split('/')[1]}",
)
async def hosts(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Host, Host, asyncio.Queue[MuxedStream]]]:
    muxer, kind, security = request.param
    if kind == "tcp":
        ta, tb, listen = TcpTransport(), TcpTransport(), "/ip4/127.0.0.1/tcp/0"
    else:
        net = MemoryNetwork()
        ta, tb, listen = MemoryTransport(net), MemoryTransport(net), "/memory/0"
    inbound: asyncio.Queue[MuxedStream] = asyncio.Queue()
    done = asyncio.Event()

    async def keep(stream: MuxedStream) -> None:
        await inbound.put(stream)
        await done.wait()  # the test drives the stream; the handler must not close it

    async with new_host(listen_addrs=[listen], muxers=[muxer], security=[security], transports=[ta]) as a:
        async with new_host(muxers=[muxer], security=[security], transports=[tb]) as b:
            a.set_stream_handler("/test/1.0.0", keep)
            await b.connect(a.full_addrs()[0])
            yield a, b, inbound
            done.set()


async def _open(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> tuple[MuxedStream, MuxedStream]:
    a, b, inbound = hosts
    out = await b.new_stream(a.peer_id, ["/test/1.0.0"])
    async with asyncio.timeout(5):
        return out, await inbound.get()


async def test_both_directions_and_half_close(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> None:
    out, inc = await _open(hosts)
    await out.write(b"ping")
    assert await inc.readexactly(4) == b"ping"
    await out.close()
    assert await inc.read() == b""  # EOF after the remote half-closed
    await inc.write(b"still open this way")  # the other direction stays open
    assert await out.readexactly(19) == b"still open this way"
    with pytest.raises(StreamClosedError):
        await out.write(b"after close")
    await inc.close()
    assert await out.read() == b""


async def test_reset_reaches_the_remote(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> None:
    out, inc = await _open(hosts)
    await out.write(b"x")
    assert await inc.readexactly(1) == b"x"
    await out.reset()
    async with asyncio.timeout(5):
        with pytest.raises(StreamResetError):
            while await inc.read():
                pass
    with pytest.raises(StreamResetError):
        await out.write(b"y")


async def test_large_write_and_zero_length_write(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> None:
    out, inc = await _open(hosts)
    data = os.urandom(3 << 20)
    await out.write(b"")
    reader = asyncio.ensure_future(inc.readexactly(len(data)))
    await out.write(data)
    async with asyncio.timeout(30):
        assert await reader == data


async def test_hundred_streams_at_once(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> None:
    pairs = await asyncio.gather(*(_open(hosts) for _ in range(100)))
    # Streams arrive in any order: pair them by content.
    await asyncio.gather(*(o.write(i.to_bytes(2, "big") * 1000) for i, (o, _) in enumerate(pairs)))
    seen = set()
    for _, inc in pairs:
        chunk = await inc.readexactly(2000)
        seen.add(chunk[:2])
        assert chunk == chunk[:2] * 1000
    assert len(seen) == 100


async def test_unread_bytes_do_not_block_other_streams(hosts: tuple[Host, Host, asyncio.Queue[MuxedStream]]) -> None:
    (out1, _inc1), (out2, inc2) = await _open(hosts), await _open(hosts)
    await out1.write(os.urandom(100_000))  # never read on the other side
    await out2.write(b"other stream")
    async with asyncio.timeout(5):
        assert await inc2.readexactly(12) == b"other stream"
