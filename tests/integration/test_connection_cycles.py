"""A closed connection, and a completed stream, leave no reference cycle among the library's
objects: they are freed by reference counting alone, without waiting for (or pausing in) the
cyclic collector. A listener holding thousands of connections relies on it (``serve``'s
``FreezingCollector`` frees cycles among old objects only once the frozen set has grown)."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Iterator

import pytest

from libp2p.host.host import Host
from libp2p.identity.peer_id import PeerId
from libp2p.node import new_host
from libp2p.protocols.echo import PROTOCOL_ID, EchoService

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@pytest.fixture(params=["/yamux/1.0.0", "/mplex/6.7.0"])
def muxer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cyclic_library_garbage() -> Counter[str]:
    """The library's objects that only the cyclic collector would free (the stdlib's own cycles,
    e.g. asyncio's selector transport referring to its bound method, are not counted)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = Counter(type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("libp2p"))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


async def _echo_once(host: Host, peer: PeerId, payload: bytes) -> None:
    stream = await host.new_stream(peer, [PROTOCOL_ID])
    await stream.write(payload)
    assert await stream.readexactly(len(payload)) == payload
    await stream.close()
    assert await stream.read(1) == b""


async def test_completed_echo_streams_leave_no_cycle(muxer: str, no_automatic_gc: None) -> None:
    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer], services=[EchoService()]) as server:
        async with new_host(muxers=[muxer]) as client:
            await client.connect(server.full_addrs()[0])
            await _echo_once(client, server.peer_id, b"warm")
            _cyclic_library_garbage()
            for _ in range(20):
                await _echo_once(client, server.peer_id, b"x" * 1024)
            assert _cyclic_library_garbage() == Counter()


async def test_a_closed_connection_leaves_no_cycle_on_either_side(muxer: str, no_automatic_gc: None) -> None:
    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer], services=[EchoService()]) as server:
        async with new_host(muxers=[muxer]) as client:
            await client.connect(server.full_addrs()[0])
            await _echo_once(client, server.peer_id, b"hello")
            (theirs,) = server.connections()
            _cyclic_library_garbage()
            for conn in client.connections():
                await conn.close()
            async with asyncio.timeout(10):
                await theirs.wait_closed()
                await theirs.raw.wait_closed()  # type: ignore[attr-defined]
            del conn, theirs
            assert _cyclic_library_garbage() == Counter()
