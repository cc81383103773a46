"""What a new connection's first exchange costs in socket writes (issue #16, item 6).

A dialer's first request right after ``connect`` leaves in one write with Noise message 3 and
identify's stream open; a burst of writes and half-closes in one loop pass (identify's answer and
its FIN) leaves in one write; a lone ``close`` is written at once, a ``close_soon`` with the loop
pass's other writes; and the request's answer is read before the connection's Identify is
processed when both arrive together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from libp2p._accel import yamux_unpack_header
from libp2p.host.service import Service
from libp2p.node import new_host
from libp2p.protocols.identify import service as identify_service
from libp2p.protocols.perf.service import PerfService, perf
from libp2p.security.noise.service import NoiseSession
from tests.integration.transport_writes import plaintexts  # noqa: F401 - a fixture

TIMEOUT = 20.0
PROTOCOL = "/test/one-byte/1.0.0"
YAMUX_DATA, FLAG_SYN, FLAG_FIN = 0, 1, 4


def _frames(plaintext: bytes) -> list[tuple[int, int, int, int]]:
    """(type, flags, stream id, length) of each yamux frame in ``plaintext``."""
    frames = []
    offset = 0
    while offset + 12 <= len(plaintext):
        _, kind, flags, stream_id, length = yamux_unpack_header(plaintext, offset)
        frames.append((kind, flags, stream_id, length))
        offset += 12 + (length if kind == YAMUX_DATA else 0)
    return frames


async def test_first_request_leaves_with_the_handshake(plaintexts: list[tuple[NoiseSession, bytes]]) -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[PerfService()]) as server, \
            new_host() as client:
        await client.connect(server.full_addrs()[0])
        result = await perf(client, server.peer_id, 1, 1)
        assert (result.upload_bytes, result.download_bytes) == (1, 1)
        conn = client.connections(server.peer_id)[0]
    ours = [p for s, p in plaintexts if s is conn.secure]  # type: ignore[attr-defined]
    first = _frames(ours[0])
    opened = {stream_id for kind, flags, stream_id, _ in first if flags & FLAG_SYN and stream_id}
    # identify's stream and the perf stream, with perf's proposal, size and byte: one write
    assert opened == {1, 3}, first
    assert sum(length for kind, _, stream_id, length in first if kind == YAMUX_DATA and stream_id == 3) == \
        len(b"\x13/multistream/1.0.0\n\x0c/perf/1.0.0\n") + 8 + 1


async def test_identify_answer_and_its_fin_leave_in_one_write(
    plaintexts: list[tuple[NoiseSession, bytes]],
) -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as server, new_host() as client:
        await client.connect(server.full_addrs()[0])
        await client.services["identify"].identify(server.peer_id)  # type: ignore[attr-defined]
        conn = server.connections(client.peer_id)[0]
    theirs = [_frames(p) for s, p in plaintexts if s is conn.secure]  # type: ignore[attr-defined]
    # The write that carries the server's Identify (on the client's stream 1) carries its FIN too.
    answer = [frames for frames in theirs if any(k == YAMUX_DATA and i == 1 and n > 100 for k, _, i, n in frames)]
    assert answer and any(f & FLAG_FIN and i == 1 for _, f, i, _ in answer[0]), theirs


class _OneByte(Service):
    name = "one-byte"

    @property
    def protocols(self) -> tuple[str, ...]:
        return (PROTOCOL,)

    async def start(self, host: Any) -> None:
        await super().start(host)
        host.set_stream_handler(PROTOCOL, self._handle)

    async def _handle(self, stream: Any) -> None:
        await stream.read()
        await stream.write(b"x")
        await stream.close()


async def test_lone_close_is_written_at_once_close_soon_with_the_pass() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[_OneByte()]) as server, \
            new_host() as client:
        await client.connect(server.full_addrs()[0])
        await client.services["identify"].identify(server.peer_id)  # type: ignore[attr-defined]
        conn = client.connections(server.peer_id)[0]
        for closer in ("close", "close_soon"):
            stream = await client.new_stream(server.peer_id, [PROTOCOL])
            await stream.write(b"?")
            assert await stream.read(1) == b"x"  # the proposal was answered: a plain stream now
            sent = conn.raw.bytes_sent  # type: ignore[attr-defined]
            await getattr(stream, closer)()
            if closer == "close":
                assert conn.raw.bytes_sent > sent  # type: ignore[attr-defined]
            else:
                assert conn.raw.bytes_sent == sent  # type: ignore[attr-defined]
            assert await stream.read() == b""  # the server saw our FIN either way, and closed


async def test_request_answer_is_read_before_identify_is_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    apply = identify_service.IdentifyService._apply

    def recording_apply(self: Any, *args: Any, **kwargs: Any) -> None:
        if self.host is client:
            order.append("identify processed")
        apply(self, *args, **kwargs)

    monkeypatch.setattr(identify_service.IdentifyService, "_apply", recording_apply)
    client = new_host()
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[_OneByte()]) as server, \
            client:
        await client.connect(server.full_addrs()[0])
        stream = await client.new_stream(server.peer_id, [PROTOCOL])
        await stream.write(b"?")
        await stream.close()
        assert await stream.read() == b"x"
        order.append("answer read")
        await client.services["identify"].identify(server.peer_id)  # type: ignore[attr-defined]
    assert order == ["answer read", "identify processed"], order
