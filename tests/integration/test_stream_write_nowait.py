"""``MuxedStream.write_nowait``: what the window takes leaves in order with later writes, the rest
is the caller's, and a reset or closed stream raises as ``write`` does."""

from __future__ import annotations

import asyncio
import os

import pytest

from libp2p.muxer.connection import MuxedStream, StreamClosedError, StreamResetError
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@pytest.mark.parametrize("muxer", ["/yamux/1.0.0", "/mplex/6.7.0"])
async def test_write_nowait_then_write_arrive_in_order(muxer: str) -> None:
    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer], services=[EchoService()]) as a:
        async with new_host(muxers=[muxer]) as b:
            await b.connect(a.full_addrs()[0])
            stream = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
            assert isinstance(stream, MuxedStream)
            parts = [os.urandom(n) for n in (10, 3000, 1 << 20, 7)]
            total = sum(map(len, parts))
            reader = asyncio.ensure_future(stream.readexactly(total))  # echoed back as it goes
            sent = []
            for part in parts:
                taken = stream.write_nowait(part)
                assert 0 <= taken <= len(part)
                sent.append(part[:taken])
                if taken < len(part):  # the window or the socket is full: the rest is ours to write
                    async with asyncio.timeout(30):
                        await stream.write(part[taken:])
                    sent.append(part[taken:])
            assert len(sent[0]) == 10  # a fresh stream's window takes a small write whole
            expected = b"".join(sent)
            assert expected == b"".join(parts)
            await stream.close()
            async with asyncio.timeout(30):
                assert await reader == expected
            with pytest.raises(StreamClosedError):
                stream.write_nowait(b"after close")


async def test_write_nowait_raises_on_a_reset_stream() -> None:
    async with new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a:
        async with new_host() as b:
            await b.connect(a.full_addrs()[0])
            stream = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
            assert isinstance(stream, MuxedStream)
            await stream.reset()
            with pytest.raises(StreamResetError):
                stream.write_nowait(b"x")
