"""A warm yamux stream's per-message path (issue #16 item 3): one socket write per message each
way, nothing left queued for a later flush, and flow control intact when reads hold their
acknowledgements back (``acknowledge_within``)."""

from __future__ import annotations

import asyncio
import os

import pytest

from libp2p.muxer.connection import MuxedConnection
from libp2p.node import new_host
from libp2p.protocols.echo import PROTOCOL_ID, EchoService
from tests.integration.test_many_streams import LOOPBACK, eventually
from tests.integration.transport_writes import count_writes

async def test_a_warm_echo_round_trip_is_one_socket_write_each_way_and_schedules_no_flush() -> None:
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        await eventually(lambda: bool(a.connections(b.peer_id)))
        ours = b.connections(a.peer_id)[0]
        theirs = a.connections(b.peer_id)[0]
        stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])
        for _ in range(3):  # warm: the SYN, the negotiation and identify are done
            await stream.write(b"*")
            assert await stream.readexactly(1) == b"*"
        await eventually(lambda: len(ours.streams) == 1 and len(theirs.streams) == 1)
        writes = {"dialer": 0, "listener": 0}
        count_writes(ours, writes, "dialer")
        count_writes(theirs, writes, "listener")
        flushes = {"n": 0}
        schedule = MuxedConnection._schedule_flush

        def counted_schedule(self: MuxedConnection) -> None:
            flushes["n"] += 1
            schedule(self)

        MuxedConnection._schedule_flush = counted_schedule  # type: ignore[method-assign]
        try:
            for i in range(1, 51):
                payload = os.urandom(1 + i % 40)
                await stream.write(payload)
                assert await stream.readexactly(len(payload)) == payload
                assert writes == {"dialer": i, "listener": i}
        finally:
            MuxedConnection._schedule_flush = schedule  # type: ignore[method-assign]
        assert flushes["n"] == 0
        await stream.close()


async def test_small_reads_of_a_large_transfer_keep_the_window_moving() -> None:
    """4 MiB echoed back and read in odd-sized pieces: acknowledgements held back within the
    core's slack still release every window update the sender needs (no stall)."""
    data = os.urandom(4 << 20)
    async with asyncio.timeout(60), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])

        async def send() -> None:
            for off in range(0, len(data), 100_000):
                await stream.write(data[off:off + 100_000])
            await stream.close()

        sender = asyncio.create_task(send())
        got = bytearray()
        sizes = [1, 7, 333, 4096, 65_535, 12]
        i = 0
        while chunk := await stream.read(sizes[i % len(sizes)]):
            got += chunk
            i += 1
        await sender
        assert bytes(got) == data


async def test_a_write_while_the_socket_closes_is_dropped_as_before() -> None:
    """Between the socket starting to close and the connection hearing of it, a small write on a
    warm stream raises nothing and writes nothing (as the general path, whose flush finds the
    transport closing); the next write sees the closed connection."""
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])
        await stream.write(b"*")
        assert await stream.readexactly(1) == b"*"
        ours = b.connections(a.peer_id)[0]
        assert ours.raw.transport is not None
        ours.raw.transport.close()
        sent = ours.raw.bytes_sent
        await stream.write(b"x")  # the transport is closing; the connection does not know yet
        assert ours.raw.bytes_sent == sent
        await ours.wait_closed()
        with pytest.raises(ConnectionError):
            await stream.write(b"y")
