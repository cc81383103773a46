"""The asyncio loop both security handshakes (Noise, TLS) run on a raw connection.

The sans-IO cores differ; how they are driven does not: send the first flight (behind an
optimistic multistream proposal when there is one), then feed what arrives to the core and send
what it answers, until it completes, under one deadline (or the caller's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from libp2p.negotiate.events import ProtocolAgreed
from libp2p.negotiate.service import ProtocolNotSupportedError

if TYPE_CHECKING:
    from libp2p.negotiate.core import MultistreamDialer
    from libp2p.transport.connection import RawConnection

__all__ = ["HandshakeCore", "drive_handshake"]


class HandshakeCore(Protocol):
    """What the driver needs of a sans-IO security handshake."""

    @property
    def complete(self) -> bool: ...

    def receive_data(self, data: bytes) -> None: ...

    def data_to_send(self) -> bytes: ...


async def drive_handshake(
    raw: RawConnection,
    hs: HandshakeCore,
    *,
    protocol_id: str,
    negotiation: MultistreamDialer | None,
    timeout: float | None,
    closed: Callable[[], Exception],
    timed_out: Callable[[], Exception],
    defer_last: bool = False,
) -> None:
    """Run ``hs`` to completion on ``raw``.

    ``negotiation``: an optimistic multistream dialer that proposed ``protocol_id``; its proposal
    leaves with the first flight and the answer is taken off the front of what arrives.
    ``timeout=None``: the caller bounds the handshake with its own deadline (no timer here); else
    ``timed_out()`` is raised when it expires. ``closed()`` is raised when the peer closes first.
    ``defer_last``: the core's last flight goes out with the connection's next write
    (``raw.write_later``). What the core has to send when it fails (a TLS alert) still goes out.
    """
    out = hs.data_to_send()
    if negotiation is not None:
        out = negotiation.data_to_send() + out
    if out:
        raw.write(out)
    if timeout is None:
        await _exchange(raw, hs, protocol_id, negotiation, closed, defer_last)
        return
    try:
        async with asyncio.timeout(timeout):
            await _exchange(raw, hs, protocol_id, negotiation, closed, defer_last)
    except TimeoutError:
        raise timed_out() from None


async def _exchange(
    raw: RawConnection,
    hs: HandshakeCore,
    protocol_id: str,
    negotiation: MultistreamDialer | None,
    closed: Callable[[], Exception],
    defer_last: bool,
) -> None:
    while not hs.complete:
        data = await raw.read()
        if not data:
            raise closed()
        if negotiation is not None:
            negotiation.receive_data(data)
            if not negotiation.finished:
                continue
            event = negotiation.next_event()
            if not isinstance(event, ProtocolAgreed):
                raise ProtocolNotSupportedError(f"the remote refused {protocol_id}")
            data = negotiation.unused_data()
            negotiation = None
            if not data:
                continue
        try:
            hs.receive_data(data)
        finally:
            # also on failure: an alert (a refused certificate) goes out before the connection closes
            out = hs.data_to_send()
            if out:
                if defer_last and hs.complete:
                    raw.write_later(out)
                else:
                    raw.write(out)
