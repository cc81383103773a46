"""What an idle connection and an idle stream keep on the listener: no task per connection, one
loop timer (the muxer's keep-alive), one task per stream (its handler, waiting), and no receive
buffer while no data waits (issue #16, item 1; the bytes are measured by benchmarks/conn_memory.py)."""

from __future__ import annotations

import asyncio

from libp2p.muxer.connection import MuxedStream
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.resources import ResourceLimits

ECHO = "/echo/1.0.0"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def _timers() -> tuple[int, int] | None:
    """(muxer timers, other timers) pending on the loop; None when the loop hides its heap."""
    scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)
    if scheduled is None:
        return None
    live = [t for t in scheduled if not t.cancelled()]
    muxer = sum(1 for t in live if getattr(t._callback, "__qualname__", "") == "CoreTimer._fire")
    return muxer, len(live) - muxer


async def test_idle_connections_and_streams_hold_no_extra_tasks_timers_or_buffers() -> None:
    conns, per_conn = 6, 3
    async with new_host(listen_addrs=[LOOPBACK], services=[EchoService()],
                        resource_limits=ResourceLimits.unlimited()) as server:
        held: list[MuxedStream] = []
        server.set_stream_handler("/hold/1.0.0", _hold(held))
        clients = [new_host() for _ in range(conns)]
        try:
            for c in clients:
                await c.start()
            tasks0, timers0 = len(asyncio.all_tasks()), _timers()
            peers = [await c.connect(server.full_addrs()[0]) for c in clients]
            async with asyncio.timeout(10):
                while len(server.connections()) < conns:
                    await asyncio.sleep(0.01)
            # identify has run both ways; what remains is what an idle connection keeps
            await _quiet()
            assert len(asyncio.all_tasks()) == tasks0
            timers1 = _timers()
            if timers0 is not None and timers1 is not None:
                # one keep-alive timer per connection on each end; besides, at most the client
                # hosts' peerstore janitors (one per host, none per connection on the listener)
                assert timers1[0] == timers0[0] + 2 * conns
                assert timers1[1] <= timers0[1] + conns

            streams = []
            for c, p in zip(clients, peers):
                for _ in range(per_conn):
                    s = await c.new_stream(p, [ECHO])
                    await s.write(b"x")
                    assert await s.read(1) == b"x"
                    streams.append(s)
            await _quiet()
            # one task per inbound stream (its handler, waiting in read), no timer
            assert len(asyncio.all_tasks()) == tasks0 + conns * per_conn
            if timers1 is not None:
                assert _timers() == timers1

            # a stream that has read all that arrived keeps no receive buffer, on either end
            s = await clients[0].new_stream(peers[0], ["/hold/1.0.0"])
            await s.write(b"1")  # the handler reads it, then holds the stream
            async with asyncio.timeout(10):
                while not held:
                    await asyncio.sleep(0.01)
            inbound = held[0]
            assert inbound._chunks is None
            await s.write(b"abc")
            async with asyncio.timeout(10):
                while inbound._chunks is None:  # three bytes wait
                    await asyncio.sleep(0.01)
            assert await inbound.read(2) == b"ab"
            assert inbound._chunks is not None
            assert await inbound.read() == b"c"
            assert inbound._chunks is None
            for out in streams[:2]:
                assert isinstance(out, MuxedStream) and out._chunks is None
            await s.reset()
        finally:
            for c in clients:
                await c.close()


def _hold(held: list[MuxedStream]):  # type: ignore[no-untyped-def]
    async def handler(stream: MuxedStream) -> None:
        assert await stream.read(1) == b"1"
        held.append(stream)
        await asyncio.sleep(30)

    return handler


async def _quiet() -> None:
    """Let the loop run what the last frames set off (bounded)."""
    for _ in range(50):
        await asyncio.sleep(0.01)
