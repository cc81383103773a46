"""Many concurrent streams on one connection (issue #16 item 5)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from libp2p.node import new_host
from libp2p.protocols.echo import PROTOCOL_ID, EchoService
from libp2p.resources import ResourceLimits
from tests.integration.transport_writes import count_writes

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def test_more_streams_at_once_than_the_yamux_ack_backlog() -> None:
    """300 streams opened in one go on one yamux connection: the opens past the 256 awaiting
    their ACK wait for ACKs (as go-yamux's OpenStream does) instead of failing."""
    unlimited = ResourceLimits.unlimited()  # 300 echo streams at once pass the per-protocol per-peer limit (128)
    async with asyncio.timeout(120), \
            new_host(listen_addrs=[LOOPBACK], services=[EchoService()], resource_limits=unlimited) as a, \
            new_host(muxers=["/yamux/1.0.0"], resource_limits=unlimited) as b:
        await b.connect(a.full_addrs()[0])

        async def echo(i: int) -> bytes:
            stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])
            payload = i.to_bytes(4, "big") + os.urandom(60)
            await stream.write(payload)
            await stream.close()
            got = await stream.readexactly(len(payload))
            assert got == payload
            return got

        results = await asyncio.gather(*(echo(i) for i in range(300)))
        assert len({r[:4] for r in results}) == 300


async def test_opening_waits_for_a_slot_at_most_the_negotiation_timeout(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A peer that never acknowledges our opening streams cannot hold an opener forever."""
    from libp2p.host.host import HostConfig
    from libp2p.muxer.yamux.core import YamuxSession
    from libp2p.negotiate.service import NegotiationTimeoutError

    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"], config=HostConfig(negotiate_timeout=0.3)) as b:
        await b.connect(a.full_addrs()[0])
        monkeypatch.setattr(YamuxSession, "outbound_backlog_full", property(lambda self: True))
        try:
            await b.new_stream(a.peer_id, [PROTOCOL_ID])
        except NegotiationTimeoutError as exc:
            assert "acknowledged none" in str(exc)
        else:
            raise AssertionError("new_stream returned while the backlog stayed full")
        monkeypatch.undo()
        stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])  # the connection still serves
        await stream.write(b"ok")
        assert await stream.readexactly(2) == b"ok"


async def test_a_request_stream_costs_each_side_two_socket_writes() -> None:
    """Open + 1-byte request + close + reply: the dialer's SYN, proposal and request leave in one
    write, its FIN in a second; the listener's ACK, negotiation answer and reply in one, its FIN
    in a second (it was 3 + 3)."""
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        await eventually(lambda: bool(a.connections(b.peer_id)))
        ours = b.connections(a.peer_id)[0]
        theirs = a.connections(b.peer_id)[0]
        await eventually(lambda: not ours.streams and not theirs.streams)  # identify and its push settle
        writes = {"dialer": 0, "listener": 0}
        count_writes(ours, writes, "dialer")
        count_writes(theirs, writes, "listener")
        for i in range(5):
            stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])
            await stream.write(b"x")
            await stream.close()
            assert await stream.readexactly(1) == b"x"
            assert await stream.read() == b""
            await eventually(lambda: not ours.streams and not theirs.streams)
            assert writes == {"dialer": 2 * (i + 1), "listener": 2 * (i + 1)}


async def test_256_concurrent_perf_streams_from_one_peer_with_the_default_limits() -> None:
    """The many-streams benchmark's load: a perf server with the default resource limits holds
    256 concurrent /perf/1.0.0 streams from one peer (the perf service declares a per-peer
    limit of its own, as go-libp2p's services do), and every one then delivers its download."""
    from libp2p.protocols.perf.service import PerfService
    from libp2p.protocols.perf.wire import PROTOCOL_ID as PERF, encode_download_size

    async with asyncio.timeout(120), new_host(listen_addrs=[LOOPBACK], services=[PerfService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        streams = await asyncio.gather(*(b.new_stream(a.peer_id, [PERF]) for _ in range(256)))
        for i, stream in enumerate(streams):
            await stream.write(encode_download_size(1000 + i))  # the server waits for our close
        held = f"protocol:{PERF}:{b.peer_id}"
        await eventually(lambda: a.resources.stat().get(held, {}).get("streams_inbound") == 256, timeout=60)

        async def finish(i: int) -> int:
            await streams[i].close()
            received = 0
            while data := await streams[i].read(1 << 16):
                received += len(data)
            return received

        assert await asyncio.gather(*(finish(i) for i in range(256))) == [1000 + i for i in range(256)]
        assert not a.resources.refusals and not b.resources.refusals


async def test_the_default_limits_still_refuse_a_peer_past_the_per_protocol_limit() -> None:
    """A protocol that declares no limits of its own keeps the general per-protocol per-peer
    limit (128 inbound streams): the streams past it are reset, the ones admitted still work."""
    from libp2p.muxer.connection import StreamResetError

    limit = ResourceLimits.scaled().protocol_peer.streams_inbound
    async with asyncio.timeout(120), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])

        async def hold(i: int) -> object:
            """An echo stream kept open (the server's handler waits for more): its echo, or how it failed."""
            stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])
            try:
                await stream.write(b"%d" % i)
                return stream if await stream.readexactly(len(b"%d" % i)) == b"%d" % i else None
            except StreamResetError as exc:
                return exc

        held = [await hold(i) for i in range(limit + 3)]
        assert all(s is not None and not isinstance(s, StreamResetError) for s in held[:limit])
        assert all(isinstance(s, StreamResetError) for s in held[limit:])
        assert a.resources.refusals["protocol-peer:streams_inbound"] == 3
        stream = held[0]
        await stream.write(b"again")  # type: ignore[attr-defined]
        assert await stream.readexactly(5) == b"again"  # type: ignore[attr-defined]


async def test_an_inbound_stream_that_stops_mid_negotiation_is_reset_after_the_timeout() -> None:
    """Negotiation arms its timer only when it has to wait: a stream whose dialer sends the
    header but no proposal (or a partial one) is still reset after ``negotiate_timeout``."""
    from libp2p.host.host import HostConfig
    from libp2p.muxer.connection import StreamResetError
    from libp2p.negotiate.core import encode_message

    async with asyncio.timeout(30), \
            new_host(listen_addrs=[LOOPBACK], services=[EchoService()], config=HostConfig(negotiate_timeout=0.3)) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        conn = b.connections(a.peer_id)[0]
        header = encode_message("/multistream/1.0.0")
        for sent in (header, header + encode_message(PROTOCOL_ID)[:5]):
            stream = conn.open_stream()
            await stream.write(sent)
            try:
                while await stream.read():  # the listener's header (held back until an answer) or nothing
                    pass
            except StreamResetError:
                pass
            else:
                raise AssertionError("the stream ended without a reset")
        await eventually(lambda: a.resources.stat()["transient"]["streams_inbound"] == 0)
        stream = await b.new_stream(a.peer_id, [PROTOCOL_ID])  # a whole proposal still works
        await stream.write(b"ok")
        assert await stream.readexactly(2) == b"ok"
