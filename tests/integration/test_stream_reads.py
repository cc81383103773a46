"""Stream readers wait on their stream's future directly (issue #16, item 3): wake-ups by data,
EOF and reset, a read cancelled while waiting, and a second concurrent reader refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from libp2p.errors import StateError
from libp2p.muxer.connection import StreamResetError
from libp2p.node import new_host

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
PROTOCOL = "/test/reads/1.0.0"


@asynccontextmanager
async def _pair() -> AsyncIterator[tuple[Any, Any]]:
    """(our outbound stream, the server's inbound stream for it)."""
    inbound: asyncio.Queue[Any] = asyncio.Queue()
    done = asyncio.Event()

    async def handler(stream: Any) -> None:
        await inbound.put(stream)
        await done.wait()

    async with new_host(listen_addrs=[LOOPBACK]) as server, new_host() as client:
        server.set_stream_handler(PROTOCOL, handler)
        await client.connect(server.full_addrs()[0])
        stream = await client.new_stream(server.peer_id, [PROTOCOL])
        await stream.write(b"0")  # the handler starts once the proposal (and this byte) arrive
        async with asyncio.timeout(10):
            remote = await inbound.get()
            assert await remote.readexactly(1) == b"0"
        try:
            yield stream, remote
        finally:
            done.set()


async def test_waiting_reader_is_woken_by_each_chunk_and_by_eof() -> None:
    async with _pair() as (stream, remote):
        async with asyncio.timeout(10):
            reader = asyncio.ensure_future(remote.readexactly(3))
            for byte in (b"a", b"b", b"c"):
                await asyncio.sleep(0)  # let the reader wait between the chunks
                await stream.write(byte)
            assert await reader == b"abc"
            pending = asyncio.ensure_future(remote.read())
            await asyncio.sleep(0)
            await stream.close()
            assert await pending == b""


async def test_reset_wakes_a_waiting_reader() -> None:
    async with _pair() as (stream, remote):
        async with asyncio.timeout(10):
            reader = asyncio.ensure_future(remote.read())
            await asyncio.sleep(0)
            await stream.reset()
            with pytest.raises(StreamResetError):
                await reader


async def test_cancelled_read_leaves_the_stream_usable_and_one_reader_at_a_time() -> None:
    async with _pair() as (stream, remote):
        async with asyncio.timeout(10):
            first = asyncio.ensure_future(remote.read())
            await asyncio.sleep(0)
            with pytest.raises(StateError):
                await remote.read()  # a second reader while the first waits
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            again = asyncio.ensure_future(remote.readexactly(2))
            await asyncio.sleep(0)
            await stream.write(b"xy")
            assert await again == b"xy"
