"""``/echo/1.0.0``: every byte is sent back until the remote half-closes (for tests and interop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libp2p.host.service import Service
from libp2p.muxer.answer import answer_inline

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.abc import Stream

__all__ = ["PROTOCOL_ID", "EchoService"]

PROTOCOL_ID = "/echo/1.0.0"
_CHUNK = 1 << 16


class EchoService(Service):
    """Answers ``/echo/1.0.0`` (``new_host(services=[EchoService()])``)."""

    name = "echo"

    @property
    def protocols(self) -> tuple[str, ...]:
        """``/echo/1.0.0``."""
        return (PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(PROTOCOL_ID, self._handle)

    async def _handle(self, stream: Stream) -> None:
        while True:
            # Answered from the connection's read callback (no task wake-up per message); this
            # task writes what the socket did not take at once, and reads the end of the stream.
            unsent = await answer_inline(stream)
            if unsent:
                await stream.write(unsent)
                continue
            data = await stream.read(_CHUNK)
            if not data:
                break
            await stream.write(data)
        await stream.close()
