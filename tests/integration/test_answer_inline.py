"""Answers written from the connection's read callback (``libp2p.muxer.answer.answer_inline``,
``MuxedStream.set_readable_callback``): ping and echo answer each message with no task wake-up,
and hand back to their task for backpressure, the end of the stream, resets and cancellation."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest

from libp2p.muxer.answer import answer_inline
from libp2p.muxer.connection import MuxedStream, StreamResetError
from libp2p.node import new_host
from libp2p.protocols.echo import PROTOCOL_ID as ECHO
from libp2p.protocols.echo import EchoService
from libp2p.protocols.ping.wire import PING_LENGTH
from libp2p.protocols.ping.wire import PROTOCOL_ID as PING

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


async def eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


def _inbound(host: Any, peer: Any, protocol: str) -> MuxedStream:
    streams = [s for s in host.connections(peer)[0].streams if not s.outbound and s.protocol == protocol]
    assert len(streams) == 1
    return streams[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("muxer", ["/yamux/1.0.0", "/mplex/6.7.0"])
async def test_echo_and_ping_answer_from_the_read_callback_in_order(muxer: str) -> None:
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=[muxer]) as b:
        await b.connect(a.full_addrs()[0])
        echo = await b.new_stream(a.peer_id, [ECHO])
        await echo.write(b"*")
        assert await echo.readexactly(1) == b"*"
        await eventually(lambda: _inbound(a, b.peer_id, ECHO)._on_readable is not None)
        # Many messages written before any answer is read: every byte comes back, in order.
        messages = [os.urandom(1 + i % 97) for i in range(300)]
        for m in messages:
            await echo.write(m)
        want = b"".join(messages)
        assert await echo.readexactly(len(want)) == want
        await echo.close()
        assert await echo.read() == b""

        ping = await b.new_stream(a.peer_id, [PING])
        pings = [os.urandom(PING_LENGTH) for _ in range(6)]
        await ping.write(b"".join(pings[:5]))  # five pings in one message
        await ping.write(pings[5][:10])  # and one split across two
        await asyncio.sleep(0.05)
        await ping.write(pings[5][10:])
        assert await ping.readexactly(6 * PING_LENGTH) == b"".join(pings)
        for _ in range(20):
            p = os.urandom(PING_LENGTH)
            await ping.write(p)
            assert await ping.readexactly(PING_LENGTH) == p
        await ping.close()
        assert await ping.read() == b""


async def test_bytes_with_the_fin_are_answered_before_the_echo_closes() -> None:
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [ECHO])
        await stream.write(b"*")
        assert await stream.readexactly(1) == b"*"
        await stream.write(b"xyz")
        await stream.close()
        assert await stream.read(-1) + await stream.read(-1) == b"xyz"
        assert await stream.read() == b""


async def test_a_partial_ping_before_the_end_resets_the_stream() -> None:
    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [PING])
        p = os.urandom(PING_LENGTH)
        await stream.write(p)
        assert await stream.readexactly(PING_LENGTH) == p
        await stream.write(b"0123456789")
        await stream.close()
        with pytest.raises(StreamResetError):
            await stream.read()
        await eventually(lambda: not a.services["ping"]._inbound)


async def test_backpressure_hands_the_answer_back_to_the_task() -> None:
    """A client that writes without reading: the echo's answers stop going at once (the client's
    window closes), its task takes over and waits, it stops reading, and the client's writes
    wait in turn; once the client reads, everything comes back in order."""
    data = os.urandom(8 << 20)
    async with asyncio.timeout(60), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, [ECHO])
        await stream.write(b"*")
        assert await stream.readexactly(1) == b"*"
        theirs = _inbound(a, b.peer_id, ECHO)

        async def send() -> None:
            for off in range(0, len(data), 65536):
                await stream.write(data[off:off + 65536])

        sender = asyncio.create_task(send())
        await eventually(lambda: theirs._on_readable is None)  # handed back: the task waits to write
        for _ in range(20):
            await asyncio.sleep(0)
        assert not sender.done()  # flow control holds the sender: 8 MiB exceed both windows
        assert theirs._buffered <= 16 << 20
        got = await stream.readexactly(len(data))
        await sender
        assert got == data
        await eventually(lambda: theirs._on_readable is not None)  # back to answering inline
        await stream.write(b"!")
        assert await stream.readexactly(1) == b"!"


async def test_cancelled_answering_leaves_the_stream_to_its_reader() -> None:
    state: dict[str, Any] = {"read": asyncio.get_running_loop().create_future()}

    async def handler(stream: MuxedStream) -> None:
        inner = state["inner"] = asyncio.create_task(answer_inline(stream))
        try:
            await inner
        except asyncio.CancelledError:
            pass
        state["read"].set_result(await stream.read(10))
        await stream.close()

    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        a.set_stream_handler("/test/answer/1", handler)  # type: ignore[arg-type]
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/test/answer/1"])
        await stream.write(b"a")
        assert await stream.readexactly(1) == b"a"
        theirs = _inbound(a, b.peer_id, "/test/answer/1")
        assert theirs._on_readable is not None
        state["inner"].cancel()
        await eventually(lambda: state["inner"].done())
        assert theirs._on_readable is None
        await stream.write(b"b")  # read by the handler's own read, not answered
        assert await state["read"] == b"b"
        assert await stream.read() == b""  # the handler's close, and no echo before it


async def test_a_reset_while_answering_ends_the_handlers() -> None:
    results: list[Any] = []

    async def handler(stream: MuxedStream) -> None:
        results.append(await answer_inline(stream))
        try:
            await stream.read()
        except StreamResetError as exc:
            results.append(exc)

    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host() as b:
        a.set_stream_handler("/test/answer/1", handler)  # type: ignore[arg-type]
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/test/answer/1"])
        await stream.write(b"a")
        assert await stream.readexactly(1) == b"a"
        await stream.reset()
        await eventually(lambda: len(results) == 2)
        assert results[0] == b"" and isinstance(results[1], StreamResetError)

        ping = await b.new_stream(a.peer_id, [PING])
        p = os.urandom(PING_LENGTH)
        await ping.write(p)
        assert await ping.readexactly(PING_LENGTH) == p
        await ping.write(p[:7])  # mid-ping
        await ping.reset()
        await eventually(lambda: not a.services["ping"]._inbound)


async def test_a_failing_callback_wakes_the_reader_and_keeps_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handler(stream: MuxedStream) -> None:
        def broken() -> None:
            raise RuntimeError("bug")

        assert await stream.readexactly(5) == b"ready"
        stream.set_readable_callback(broken)
        await stream.write(b"set")
        await stream.when_readable()  # woken when the failing callback is cleared
        got.set_result(stream.read_nowait())
        await stream.write(b"ok")
        await stream.close()

    async with asyncio.timeout(30), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        a.set_stream_handler("/test/answer/1", handler)  # type: ignore[arg-type]
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/test/answer/1"])
        await stream.write(b"ready")
        assert await stream.readexactly(3) == b"set"
        with caplog.at_level(logging.ERROR, logger="libp2p.muxer"):
            await stream.write(b"data")
            assert await got == b"data"
        assert "readable callback failed" in caplog.text
        assert await stream.readexactly(2) == b"ok"
        assert not b.connections(a.peer_id)[0].is_closed


async def test_not_a_muxed_stream_is_left_to_the_caller() -> None:
    assert await answer_inline(object()) == b""  # type: ignore[arg-type]


async def test_a_ping_series_times_out_per_ping_with_one_timer() -> None:
    """``PingService.ping``'s one deadline timer: every ping has the whole timeout (a series longer
    than the timeout completes), and a pong that never comes raises ``TimeoutError``."""
    delay = {"s": 0.3}

    async def slow_pong(stream: MuxedStream) -> None:
        while True:
            try:
                payload = await stream.readexactly(PING_LENGTH)
            except (asyncio.IncompleteReadError, StreamResetError):
                return
            await asyncio.sleep(delay["s"])
            await stream.write(payload)

    async with asyncio.timeout(60), new_host(listen_addrs=[LOOPBACK], default_services=False) as a, \
            new_host() as b:
        a.set_stream_handler(PING, slow_pong)  # type: ignore[arg-type]
        await b.connect(a.full_addrs()[0])
        rtts = await b.services["ping"].ping(a.peer_id, 5, timeout=1.0)  # type: ignore[attr-defined]
        assert len(rtts) == 5 and sum(rtts) > 1.0
        delay["s"] = 30.0
        with pytest.raises(TimeoutError):
            await b.services["ping"].ping(a.peer_id, 2, timeout=0.2)  # type: ignore[attr-defined]
        # the connection is still usable, and no stray cancellation is left on this task
        delay["s"] = 0.0
        assert len(await b.services["ping"].ping(a.peer_id, 2)) == 2  # type: ignore[attr-defined]
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
