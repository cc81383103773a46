"""Answer a stream's messages from the connection's read callback, with no task wake-up each.

A request/response protocol whose handler only answers what arrives (ping, echo) waits for
every message in a task: the bytes arrive in the loop's read callback, wake the task, and the
task writes the answer. On asyncio's default event loop that wake-up costs a whole loop pass
(an ``epoll_wait`` and ``BaseEventLoop._run_once`` in Python) on the round trip's path.
``answer_inline`` answers in the read callback instead, and hands back to the caller's task
whenever that cannot be done at once: a backed-up socket or a short send window (the caller
``await``s the write, so backpressure is unchanged), the remote's EOF, a reset, or a
cancellation (the callback is cleared before the task goes on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from libp2p.muxer.connection import MuxedStream

if TYPE_CHECKING:
    from libp2p.abc import Stream

__all__ = ["answer_inline"]


async def answer_inline(stream: Stream, answer: Callable[[bytes], bytes] | None = None) -> bytes:
    """Each time bytes arrive on ``stream``, send ``answer(data)`` back (nothing when it is
    empty; the bytes themselves without ``answer``: echo), from the read callback that brought
    them, until that cannot go on.

    Returns what is left to send (the caller ``await stream.write``s it, then may call again),
    or ``b""``: the remote ended the stream or reset it (the caller's next read says which), or
    ``stream`` is not a muxed stream (the caller reads as usual). Raises what ``answer`` or a
    write raised. Bytes already buffered are answered first, from here.
    """
    if not isinstance(stream, MuxedStream) or stream._pending_negotiation is not None \
            or stream._negotiated is not None:
        return b""  # an unsettled optimistic negotiation: the caller's read settles it
    read_nowait = stream.read_nowait
    write_now = stream.write_now
    unsent = b""
    error: Exception | None = None
    active = True

    def on_readable() -> None:
        nonlocal unsent, error, active
        try:
            data = read_nowait(-1)
            while data:
                out = answer(data) if answer is not None else data
                if out:
                    sent = write_now(out)
                    if sent < len(out):
                        unsent = out[sent:]
                        break
                # one read takes all but what sat in front (put back by the negotiation)
                data = read_nowait(-1) if stream._chunks else b""
            else:
                return  # all answered: wait for more
        except Exception as exc:  # raised in the task, where it belongs
            error = exc
        active = False
        stream.set_readable_callback(None)  # hand back: wakes the task below

    stream.set_readable_callback(on_readable)
    try:
        on_readable()  # what arrived before the callback was set
        while active and not stream.at_eof and not stream.is_reset:
            await stream.when_readable()  # the EOF, a reset, or the callback handing back
            if active and not stream.is_reset:
                on_readable()  # bytes that came with the EOF, if any
    finally:
        stream.set_readable_callback(None)
    if error is not None:
        raise error
    return unsent
