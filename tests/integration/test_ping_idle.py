"""The ping handler's idle limit: an idle ping stream ends, an active one does not."""

from __future__ import annotations

import asyncio
import os

import pytest

from libp2p.muxer.connection import StreamResetError
from libp2p.node import new_host
from libp2p.protocols.ping import service as ping_service
from libp2p.protocols.ping.wire import PING_LENGTH, PROTOCOL_ID

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def _ended(stream: object) -> bool:
    """Whether the stream ends (EOF or reset) before its next read times out."""
    try:
        async with asyncio.timeout(20):
            data = await stream.read()  # type: ignore[attr-defined]
    except StreamResetError:
        return True
    return data == b""


async def test_idle_ping_stream_ends_and_active_one_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ping_service, "PING_TIMEOUT", 0.2)  # 1.2 s idle limit (PING_TIMEOUT * 6)
    async with new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        await b.connect(a.full_addrs()[0])
        active = await b.new_stream(a.peer_id, [PROTOCOL_ID])
        idle = await b.new_stream(a.peer_id, [PROTOCOL_ID])
        payload = os.urandom(PING_LENGTH)
        await idle.write(payload)
        assert await idle.readexactly(PING_LENGTH) == payload
        idle_ended = asyncio.ensure_future(_ended(idle))
        # pings on the other stream for well over the idle limit, each answered
        for _ in range(60):
            payload = os.urandom(PING_LENGTH)
            await active.write(payload)
            async with asyncio.timeout(10):
                assert await active.readexactly(PING_LENGTH) == payload
            await asyncio.sleep(0.05)
        assert await idle_ended
        assert not active.is_reset
        payload = os.urandom(PING_LENGTH)
        await active.write(payload)
        assert await active.readexactly(PING_LENGTH) == payload
        await active.close()
