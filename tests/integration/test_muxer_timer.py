"""The muxer core's timer after data flowed (issue #16, item 3).

Data writes and received input no longer re-arm the connection's loop timer (the core's deadline
only moves earlier after an open, a ping or a timer run); this checks that the deadline in force
still fires after data flowed: the keep-alive ping goes out once the connection is idle, and a
peer that goes silent is detected by the keep-alive timeout.
"""

from __future__ import annotations

import asyncio

from libp2p.muxer.options import Yamux
from libp2p.muxer.yamux.core import YamuxConfig
from libp2p.muxer.yamux.errors import KeepAliveTimeoutError
from libp2p.node import new_host
from libp2p.protocols.echo import PROTOCOL_ID, EchoService

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
INTERVAL = 0.5
CONFIG = YamuxConfig(keepalive_interval=INTERVAL, ping_timeout=1.0, measure_rtt_interval=None)


async def test_keepalive_runs_during_traffic_and_catches_a_silent_peer() -> None:
    async with (
        new_host(listen_addrs=[LOOPBACK], muxers=[Yamux(CONFIG)], services=[EchoService()]) as server,
        new_host(muxers=[Yamux(CONFIG)]) as client,
    ):
        await client.connect(server.full_addrs()[0])
        conn = client.connections(server.peer_id)[0]
        stream = await client.new_stream(server.peer_id, [PROTOCOL_ID])
        session = conn.session
        # 1-byte round trips for three keep-alive intervals: only data moves (the core defers
        # its keep-alive while input arrives), and nothing re-arms the loop timer meanwhile.
        loop = asyncio.get_running_loop()
        until = loop.time() + 3 * INTERVAL
        last = loop.time()
        longest_gap = 0.0
        while last < until:
            await stream.write(b"*")
            assert await stream.readexactly(1) == b"*"
            now = loop.time()
            longest_gap, last = max(longest_gap, now - last), now
        # (A loaded machine can stall this process for a whole interval: the connection was then
        # idle, and the keep-alive rightly went out.)
        if longest_gap < INTERVAL / 2:
            assert session.rtt == 0.0  # type: ignore[attr-defined]
        # Idle now: the timer armed before the traffic fires, re-arms to the deferred deadline,
        # and the keep-alive ping goes out; its answer sets the RTT.
        async with asyncio.timeout(5):
            while session.rtt == 0.0:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
        assert not conn.is_closed
        # The server stops reading: the next keep-alive ping goes unanswered and the client's
        # session ends with the typed timeout.
        server.connections(client.peer_id)[0].raw.pause_reading()
        async with asyncio.timeout(10):
            await conn.wait_closed()
        assert isinstance(conn.close_reason, KeepAliveTimeoutError)
