"""mplex has no flow control: a slow reader stops the connection reading its socket (TCP
backpressure) instead of having its stream reset, and a reader that takes nothing for 5 s is reset
(go-mplex's ReceiveTimeout) so the connection carries on.

Found against js-libp2p: a 16 MiB echo over mplex (js dialing our echo service) was reset by us at
4 MiB of unread data, because our echo handler waited on its own socket writes while js kept sending.
"""

from __future__ import annotations

import asyncio
import os

import pytest

import libp2p.muxer.connection as connection_module
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.muxer.connection import MuxedStream, StreamResetError

MPLEX = "/mplex/6.7.0"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def test_slow_mplex_reader_applies_backpressure() -> None:
    gate = asyncio.Event()
    received = 0
    errors: list[BaseException] = []

    async def sink(stream: MuxedStream) -> None:
        nonlocal received
        try:
            await gate.wait()
            while data := await stream.read(1 << 16):
                received += len(data)
        except BaseException as exc:
            errors.append(exc)
            raise

    async with asyncio.timeout(60):
        async with new_host(listen_addrs=[LOOPBACK], muxers=[MPLEX]) as a, new_host(muxers=[MPLEX]) as b:
            a.set_stream_handler("/sink/1.0.0", sink)
            await b.connect(a.full_addrs()[0])
            s = await b.new_stream(a.peer_id, ["/sink/1.0.0"])
            writer = asyncio.ensure_future(s.write(bytes(16 << 20)))
            await asyncio.sleep(1.0)
            assert not writer.done()  # waits on its socket: the reader's side stopped reading
            [conn] = a.connections(b.peer_id)
            # (identify may still be in flight: the backlog holds the whole connection's input)
            [inbound] = [st for st in conn.streams if st.protocol == "/sink/1.0.0"]
            assert inbound._buffered <= 2 << 20  # bounded near the 1 MiB high-water mark
            gate.set()
            await writer
            await s.close()
            while received < 16 << 20:
                await asyncio.sleep(0.01)
            assert received == 16 << 20
            assert errors == []


async def test_stuck_mplex_reader_is_reset_and_connection_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_module, "_BACKLOG_TIMEOUT", 1.0)
    stuck = asyncio.Event()
    outcome: list[BaseException | None] = []

    async def never_reads(stream: MuxedStream) -> None:
        await stuck.wait()
        try:
            while await stream.read():
                pass
        except StreamResetError as exc:
            outcome.append(exc)
            raise
        outcome.append(None)

    async with asyncio.timeout(60):
        async with new_host(listen_addrs=[LOOPBACK], muxers=[MPLEX], services=[EchoService()]) as a, \
                new_host(muxers=[MPLEX]) as b:
            a.set_stream_handler("/stuck/1.0.0", never_reads)
            await b.connect(a.full_addrs()[0])
            s = await b.new_stream(a.peer_id, ["/stuck/1.0.0"])
            await asyncio.wait_for(s.write(os.urandom(4 << 20)), 20)
            # the stuck stream is reset after the (shortened) backlog timeout...
            while not s.is_reset:
                await asyncio.sleep(0.02)
            with pytest.raises(StreamResetError):
                await s.read()
            stuck.set()
            while not outcome:
                await asyncio.sleep(0.02)
            assert isinstance(outcome[0], StreamResetError)
            # ...and the connection keeps serving other streams
            echo = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
            data = os.urandom(3 << 20)
            reader = asyncio.ensure_future(echo.readexactly(len(data)))
            await echo.write(data)
            await echo.close()
            assert await reader == data
            assert len(a.connections(b.peer_id)) == 1
