"""perf server (on by option) and client."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libp2p.errors import UnexpectedEOFError
from libp2p.host.service import Service
from libp2p.protocols.perf.wire import BLOCK_SIZE, PROTOCOL_ID, decode_download_size, encode_download_size
from libp2p.resources import ScopeLimit

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.abc import Stream

__all__ = ["PerfService", "PerfResult", "perf", "STREAMS_PER_PEER"]

_ZEROS = bytes(BLOCK_SIZE)
# The server refuses to send more than this per request (go-libp2p has no cap; we bound it).
MAX_DOWNLOAD = 1 << 40
# /perf streams one peer may hold open on a perf server at once. The general per-protocol
# per-peer limit (128 inbound) is sized for request/response protocols; perf is served only
# when asked for, and its clients open many concurrent streams by design (the many-streams
# benchmark: 256 on one connection, as go's and rust's perf servers take). The per-peer
# (go's 256 + 128 per GiB), transient and system limits still bound what one peer holds.
STREAMS_PER_PEER = 1024


@dataclass(frozen=True, slots=True)
class PerfResult:
    upload_bytes: int
    download_bytes: int
    upload_seconds: float
    download_seconds: float
    total_seconds: float


async def _send_zeros(stream: Stream, n: int) -> None:
    while n > 0:
        chunk = _ZEROS if n >= BLOCK_SIZE else _ZEROS[:n]
        await stream.write(chunk)
        n -= len(chunk)


async def _drain(stream: Stream) -> int:
    total = 0
    while True:
        data = await stream.read(1 << 20)
        if not data:
            return total
        total += len(data)


class PerfService(Service):
    """The ``/perf/1.0.0`` server (``new_host(services=[PerfService()])``)."""

    name = "perf"

    def __init__(self, *, streams_per_peer: int = STREAMS_PER_PEER) -> None:
        super().__init__()
        self.streams_per_peer = streams_per_peer

    @property
    def protocols(self) -> tuple[str, ...]:
        """``/perf/1.0.0``."""
        return (PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        n = self.streams_per_peer
        # (limits the host was given for /perf/1.0.0, or no limits at all, take precedence)
        host.resources.declare_protocol_limits(
            PROTOCOL_ID, peer_limit=ScopeLimit(streams_inbound=n, streams_outbound=n, streams=2 * n))
        host.set_stream_handler(PROTOCOL_ID, self._handle)

    async def _handle(self, stream: Stream) -> None:
        download = decode_download_size(await stream.readexactly(8))
        if download > MAX_DOWNLOAD:
            await stream.reset()
            return
        await _drain(stream)
        # The last block and the FIN leave in one send (with a 1-byte download: the whole answer).
        last = download % BLOCK_SIZE or min(download, BLOCK_SIZE)
        await _send_zeros(stream, download - last)
        if last:
            await stream.write_soon(_ZEROS[:last])
        await stream.close_soon()


async def perf(host: Host, peer_id: PeerId, upload_bytes: int, download_bytes: int, timeout: float | None = None) -> PerfResult:
    """Upload ``upload_bytes`` then download ``download_bytes`` on one ``/perf/1.0.0`` stream."""
    async with asyncio.timeout(timeout):
        start = time.perf_counter()
        stream = await host.new_stream(peer_id, [PROTOCOL_ID])
        try:
            # The size leaves with the first block (and the protocol proposal before it): one send.
            await stream.write_soon(encode_download_size(download_bytes))
            await _send_zeros(stream, upload_bytes)
            await stream.close()
            uploaded = time.perf_counter()
            received = await _drain(stream)
        except BaseException:
            await stream.reset()
            raise
        end = time.perf_counter()
    if received != download_bytes:
        raise UnexpectedEOFError(f"perf: expected {download_bytes} bytes, received {received}")
    return PerfResult(upload_bytes, download_bytes, uploaded - start, end - uploaded, end - start)
