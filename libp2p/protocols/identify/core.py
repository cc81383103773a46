"""Reading an Identify (request answer or push) as a sans-IO core.

The sender writes one or more length-prefixed messages and closes; we merge them at EOF.
Sizes and counts are bounded before anything is kept.
"""

from __future__ import annotations

from collections import deque

from libp2p._accel import FrameReader, varint_encode
from libp2p.errors import DecodeError
from libp2p.protocols.identify.events import IdentifyEvent, IdentifyReceived
from libp2p.protocols.identify.wire import MAX_MESSAGE_SIZE, MAX_MESSAGES, IdentifyDecodeError, IdentifyInfo, decode_identify, encode_identify

__all__ = ["IdentifyReader", "frame_identify"]


def frame_identify(info: IdentifyInfo) -> bytes:
    body = encode_identify(info)
    return varint_encode(len(body)) + body


class IdentifyReader:
    def __init__(self) -> None:
        self._reader = FrameReader(MAX_MESSAGE_SIZE)
        self._messages: list[bytes] = []
        self._events: deque[IdentifyEvent] = deque()
        self._done = False

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise IdentifyDecodeError("data after the Identify stream ended")
        self._reader.feed(data)
        try:
            while (frame := self._reader.next_frame()) is not None:
                if len(self._messages) >= MAX_MESSAGES:
                    raise IdentifyDecodeError(f"more than {MAX_MESSAGES} Identify messages")
                self._messages.append(frame)
        except IdentifyDecodeError:
            raise
        except DecodeError as exc:
            raise IdentifyDecodeError(f"bad Identify framing: {exc}") from None

    def receive_eof(self) -> None:
        """The sender closed: decode what arrived."""
        if self._done:
            return
        self._done = True
        try:
            self._reader.close()
        except DecodeError as exc:
            raise IdentifyDecodeError(f"Identify stream ended mid-message: {exc}") from None
        if not self._messages:
            raise IdentifyDecodeError("the Identify stream ended without a message")
        self._events.append(IdentifyReceived(decode_identify(self._messages)))

    def next_event(self) -> IdentifyEvent | None:
        return self._events.popleft() if self._events else None
