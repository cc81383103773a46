"""Length-prefixed messages on a stream: each message is ``uvarint(len) || bytes``.

The framing most libp2p protocols use (identify, Kademlia, ...), as go-msgio's varint reader
and writer and js's ``it-length-prefixed`` provide it. Use it for an application protocol of
your own::

    stream = await host.new_stream(peer, "/my-app/1.0.0")
    await write_message(stream, b"hello")
    reply = await read_message(stream)          # None once the remote closed its side

    async for message in messages(stream):      # every message until the remote closes
        ...

The length is bounded before anything is allocated: a message over ``max_size`` raises
``FrameTooLargeError``; a stream that ends inside a message raises ``TruncatedFrameError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from libp2p._accel import varint_decode, varint_encode
from libp2p.errors import FrameTooLargeError, OverlongVarintError, TruncatedFrameError

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "messages", "read_message", "write_message"]

#: go-msgio's default bound on one message (4 MiB); pass ``max_size`` for another.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_MAX_PREFIX = 9  # a uvarint of up to 63 bits


class _Readable(Protocol):
    async def read(self, n: int = -1) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class _Writable(Protocol):
    async def write(self, data: bytes | bytearray | memoryview) -> None: ...


async def write_message(stream: _Writable, data: bytes | bytearray | memoryview) -> None:
    """Send ``data`` as one message: its length as an unsigned varint, then the bytes."""
    await stream.write(varint_encode(len(data)) + bytes(data))


async def read_message(stream: _Readable, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes | None:
    """The next message, or None when the stream ended cleanly before a new one began.

    Raises ``FrameTooLargeError`` for a message longer than ``max_size`` (before reading it),
    ``TruncatedFrameError`` when the stream ends inside a message, and a ``DecodeError`` for
    a malformed length prefix.
    """
    prefix = bytearray()
    while True:
        byte = await stream.read(1)
        if not byte:
            if not prefix:
                return None
            raise TruncatedFrameError("the stream ended inside a message's length prefix")
        prefix += byte
        if byte[0] < 0x80:
            break
        if len(prefix) >= _MAX_PREFIX:
            raise OverlongVarintError("message length prefix longer than 9 bytes")
    length, _ = varint_decode(bytes(prefix))
    if length > max_size:
        raise FrameTooLargeError(f"message of {length} bytes is over the {max_size}-byte limit")
    if length == 0:
        return b""
    try:
        return await stream.readexactly(length)
    except EOFError as exc:  # asyncio.IncompleteReadError
        raise TruncatedFrameError(f"the stream ended inside a {length}-byte message") from exc


async def messages(stream: _Readable, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> AsyncIterator[bytes]:
    """Every message until the remote closes its side of the stream."""
    while (message := await read_message(stream, max_size)) is not None:
        yield message
