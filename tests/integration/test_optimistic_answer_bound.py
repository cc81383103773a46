"""The answer to an optimistic protocol proposal is awaited for a bounded time, on muxed (yamux,
mplex) and QUIC streams alike: then the read (or the close) raises and the stream is reset."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from libp2p.negotiate import service as negotiate_service
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import NegotiationTimeoutError
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService

TCP = "/ip4/127.0.0.1/tcp/0"
QUIC = "/ip4/127.0.0.1/udp/0/quic-v1"


def _host_options(kind: str) -> dict[str, Any]:
    if kind == "quic":
        from libp2p.transport.quic import QuicTransport

        return {"transports": [QuicTransport()]}
    return {"muxers": [kind]}


@pytest.mark.parametrize("kind", ["/yamux/1.0.0", "/mplex/6.7.0", "quic"])
@pytest.mark.parametrize("ending", ["read", "close"])
async def test_an_unanswered_proposal_times_out_and_resets(
    kind: str, ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(negotiate_service, "ANSWER_TIMEOUT", 0.2)
    listen = QUIC if kind == "quic" else TCP
    async with asyncio.timeout(30), \
            new_host(listen_addrs=[listen], services=[EchoService()], **_host_options(kind)) as a, \
            new_host(**_host_options(kind)) as b:
        await b.connect(a.full_addrs()[0])
        # Two protocols: negotiated before new_stream returns. Then pretend a proposal went out
        # that the remote (an echo handler, which only echoes) will never answer.
        stream = await b.new_stream(a.peer_id, ["/nope/1.0.0", "/echo/1.0.0"])
        stream.expect_negotiation(MultistreamDialer(["/never/1.0.0"], optimistic=True))
        with pytest.raises(NegotiationTimeoutError):
            if ending == "read":
                await stream.read()
            else:
                await stream.close()
        assert stream.is_reset
        # The connection still serves other streams.
        other = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
        await other.write(b"still here")
        await other.close()
        assert await other.readexactly(10) == b"still here"


async def test_a_cancelled_wait_for_the_answer_stays_a_cancellation_and_the_bound_still_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer's deadline is a shared coarse timer that cancels the waiting task: another
    cancellation meanwhile is not turned into a timeout, and a task that waited for two answers
    in a row is bounded each time."""
    monkeypatch.setattr(negotiate_service, "ANSWER_TIMEOUT", 0.2)
    async with asyncio.timeout(30), new_host(listen_addrs=[TCP], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/nope/1.0.0", "/echo/1.0.0"])
        stream.expect_negotiation(MultistreamDialer(["/never/1.0.0"], optimistic=True))
        waiting = asyncio.ensure_future(stream.read())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not negotiate_service._overdue

        async def two_in_a_row() -> int:
            timeouts = 0
            for _ in range(2):
                s = await b.new_stream(a.peer_id, ["/nope/1.0.0", "/echo/1.0.0"])
                s.expect_negotiation(MultistreamDialer(["/never/1.0.0"], optimistic=True))
                try:
                    await s.read()
                except NegotiationTimeoutError:
                    timeouts += 1
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
            return timeouts

        assert await two_in_a_row() == 2
        assert not negotiate_service._overdue
        # An answered proposal leaves nothing behind either.
        echo = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
        await echo.write(b"x")
        assert await echo.readexactly(1) == b"x"
        await echo.close()
