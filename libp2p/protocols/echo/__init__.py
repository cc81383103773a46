"""``/echo/1.0.0``: every byte is sent back until the remote half-closes (for tests and interop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.muxer.connection import MuxedStream

__all__ = ["PROTOCOL_ID", "EchoService"]

PROTOCOL_ID = "/echo/1.0.0"
_CHUNK = 1 << 16


class EchoService:
    def __init__(self, host: Host) -> None:
        host.set_stream_handler(PROTOCOL_ID, self._handle)

    async def _handle(self, stream: MuxedStream) -> None:
        while True:
            data = await stream.read(_CHUNK)
            if not data:
                break
            await stream.write(data)
        await stream.close()
