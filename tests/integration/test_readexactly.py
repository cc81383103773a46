"""``MuxedStream.readexactly``: one chunk is returned as it came, several are joined, and an end of
stream before ``n`` bytes raises ``IncompleteReadError`` with what did come."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.test_stream_reads import _pair


async def test_one_chunk_several_chunks_and_a_short_stream() -> None:
    async with _pair() as (stream, remote):
        async with asyncio.timeout(10):
            await stream.write(b"xyz")
            assert await remote.readexactly(3) == b"xyz"
            assert await remote.readexactly(0) == b""
            reader = asyncio.ensure_future(remote.readexactly(4))
            for part in (b"ab", b"c", b"d"):
                await stream.write(part)
                await asyncio.sleep(0.01)  # each arrives on its own
            assert await reader == b"abcd"
            await stream.write(b"e")
            await asyncio.sleep(0.01)
            await stream.write(b"f")
            await stream.close()
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await remote.readexactly(3)
            assert info.value.partial == b"ef" and info.value.expected == 3
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await remote.readexactly(1)
            assert info.value.partial == b""
