"""multistream-select 1.0, sans-IO: a dialer (proposes) and a listener (accepts or refuses).

Wire format: each message is ``uvarint(len) || text || '\\n'`` where ``len`` counts the newline.
Both sides start with ``/multistream/1.0.0``; the dialer then proposes protocol ids one at a time,
the listener echoes the one it accepts or answers ``na``.

Both negotiators take bytes with ``receive_data``, hand out bytes with ``data_to_send`` and report
progress through ``next_event``. They parse one message at a time and stop at the last negotiation
message: whatever arrived after it belongs to the selected protocol and is returned, untouched,
by ``unused_data()``. This matters for the optimistic ("lazy") dialer, which writes protocol data
right behind its proposal, so the listener receives both in one read.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence

from libp2p._accel import FrameReader, varint_decode, varint_encode
from libp2p.errors import DecodeError, FrameTooLargeError
from libp2p.negotiate.errors import (
    EmptyMessageError,
    IncorrectVersionError,
    InvalidListResponseError,
    MessageDecodeError,
    MessageTooLargeError,
    MissingNewlineError,
    NegotiationError,
    NegotiationStateError,
    TooManyRoundsError,
    UnexpectedResponseError,
)
from libp2p.negotiate.events import NegotiationEvent, ProtocolAgreed, ProtocolRejected, ProtocolsListed

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "LS",
    "MAX_LISTED_PROTOCOLS",
    "MAX_LIST_RESPONSE_SIZE",
    "MAX_MESSAGE_SIZE",
    "NA",
    "PROTOCOL_ID",
    "SIMULTANEOUS_CONNECT",
    "MultistreamDialer",
    "MultistreamListener",
    "decode_list_response",
    "encode_list_response",
    "encode_message",
]

logger = logging.getLogger("libp2p.negotiate")

PROTOCOL_ID = "/multistream/1.0.0"
NA = "na"
LS = "ls"
# The deprecated simultaneous-open extension: we only ever refuse it (SPECS §6).
SIMULTANEOUS_CONNECT = "/libp2p/simultaneous-connect"
# go-multistream refuses messages longer than this (length prefix value, newline included).
MAX_MESSAGE_SIZE = 1024
# An ``ls`` answer nests every protocol id in one message, so it may exceed MAX_MESSAGE_SIZE;
# a dialer that asked for it accepts up to this much (and at most MAX_LISTED_PROTOCOLS entries,
# rust-libp2p's bound).
MAX_LIST_RESPONSE_SIZE = 64 * 1024
MAX_LISTED_PROTOCOLS = 1000
# The listener's bound on proposals (and ``ls`` requests) before it gives up on a dialer.
DEFAULT_MAX_ROUNDS = 64

_NEWLINE = 0x0A


def encode_message(text: str) -> bytes:
    """One multistream message: length prefix, UTF-8 text, newline."""
    body = text.encode("utf-8") + b"\n"
    return varint_encode(len(body)) + body


def encode_list_response(protocols: Sequence[str]) -> bytes:
    """The answer to ``ls``: one message holding each id as its own message, then a newline."""
    inner = b"".join(encode_message(p) for p in protocols) + b"\n"
    return varint_encode(len(inner)) + inner


def decode_list_response(body: bytes) -> tuple[str, ...]:
    """Parse the body of an ``ls`` answer (its outer trailing newline already removed)."""
    out: list[str] = []
    pos = 0
    n = len(body)
    while pos < n:
        if len(out) >= MAX_LISTED_PROTOCOLS:
            raise InvalidListResponseError(f"ls answer lists more than {MAX_LISTED_PROTOCOLS} protocols")
        try:
            length, start = varint_decode(body, pos)
        except DecodeError as exc:
            raise InvalidListResponseError(f"bad entry length in ls answer: {exc}") from exc
        end = start + length
        if length < 2 or end > n or body[end - 1] != _NEWLINE:
            raise InvalidListResponseError("ls answer entry is empty, truncated or lacks its newline")
        out.append(_decode_text(body[start : end - 1]))
        pos = end
    return tuple(out)


def _decode_text(body: bytes) -> str:
    if not body:
        raise EmptyMessageError("empty protocol id")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageDecodeError(f"message is not UTF-8: {exc}") from exc


def _check_protocol_id(protocol: str) -> str:
    """Validate a protocol id our caller gave us; ids from the wire are checked by the decoder."""
    if not isinstance(protocol, str):
        raise NegotiationStateError(f"protocol id must be str, not {type(protocol).__name__}")
    if not protocol or "\n" in protocol:
        raise NegotiationStateError(f"invalid protocol id {protocol!r}")
    if protocol in (NA, LS, PROTOCOL_ID):
        raise NegotiationStateError(f"{protocol!r} is reserved by multistream-select")
    if len(protocol.encode("utf-8")) + 1 > MAX_MESSAGE_SIZE:
        raise NegotiationStateError(f"protocol id longer than {MAX_MESSAGE_SIZE - 1} bytes")
    return protocol


# Protocol ids a dialer proposed before, checked, with their messages: most dialers propose the
# same few ids (identify, ping, the muxers) on every connection. Bounded: cleared when full.
_PROPOSALS: dict[str, bytes] = {}
_MAX_REMEMBERED_PROPOSALS = 1024


def _remember_proposal(protocol: str) -> None:
    _check_protocol_id(protocol)
    if len(_PROPOSALS) >= _MAX_REMEMBERED_PROPOSALS:
        _PROPOSALS.clear()
    _PROPOSALS[protocol] = encode_message(protocol)


_HEADER = encode_message(PROTOCOL_ID)
_HEADER_BODY = PROTOCOL_ID.encode("ascii")
_NA_MESSAGE = encode_message(NA)
_LS_MESSAGE = encode_message(LS)


class _Negotiator:
    """What the dialer and the listener share: message framing, output, events, leftovers."""

    __slots__ = ("_agreed", "_error", "_events", "_finished", "_header_seen", "_max_message", "_out", "_reader",
                 "_unused")

    def __init__(self, max_message: int) -> None:
        # Made on the first bytes that take the general path: a stream's usual negotiation (one
        # flight each way, see ``_at_once``) needs no framing state.
        self._reader: FrameReader | None = None
        self._max_message = max_message
        self._out = bytearray(_HEADER)
        self._events: deque[NegotiationEvent] = deque()
        self._finished = False
        self._error: NegotiationError | None = None
        self._unused = bytearray()
        self._header_seen = False
        self._agreed: str | None = None

    # --- the sans-IO face -----------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer. Raises a ``NegotiationError`` subclass on a protocol violation;
        the negotiator is then unusable. Bytes fed after negotiation finished go to ``unused_data``."""
        if self._error is not None:
            raise NegotiationStateError("negotiation already failed") from self._error
        if self._finished:
            self._unused += data
            return
        reader = self._reader
        if reader is None:
            if not self._header_seen and self._at_once(data):
                return
            reader = self._reader = FrameReader(self._max_message)
        reader.feed(data)
        try:
            while not self._finished:
                body = self._next_message()
                if body is None:
                    break
                self._handle(body)
        except NegotiationError as exc:
            self._error = exc
            raise
        if self._finished:
            self._unused += reader.drain()

    def next_event(self) -> NegotiationEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        # Negotiation has no timers of its own; the adapter applies its overall timeout.
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def unused_data(self) -> bytes:
        """Bytes that arrived after the last negotiation message (empty until it finished).

        They belong to the selected protocol. Each call hands over what accumulated since the last.
        """
        out = bytes(self._unused)
        self._unused.clear()
        return out

    @property
    def finished(self) -> bool:
        """Negotiation is over (agreed, rejected, or a listing without proposals answered)."""
        return self._finished

    @property
    def protocol(self) -> str | None:
        """The agreed protocol, once ``ProtocolAgreed`` was queued."""
        return self._agreed

    @property
    def header_seen(self) -> bool:
        """The peer's multistream header arrived: it speaks multistream-select."""
        return self._header_seen

    # --- internals --------------------------------------------------------------------------

    def _at_once(self, data: bytes | bytearray | memoryview) -> bool:
        """The peer's first bytes, when they hold its whole usual flight (the header and one
        message, then maybe protocol data): handled here as the general path would, with no
        framing state; False (and nothing changed) for anything else, which takes that path."""
        return False

    def _next_message(self) -> bytes | None:
        """The next complete message without its newline, or None when more bytes are needed."""
        assert self._reader is not None
        try:
            frame = self._reader.next_frame()
        except FrameTooLargeError as exc:
            raise MessageTooLargeError(str(exc)) from exc
        except DecodeError as exc:
            raise MessageDecodeError(f"bad message length prefix: {exc}") from exc
        if frame is None:
            return None
        if not frame:
            raise EmptyMessageError("zero-length multistream message")
        if frame[-1] != _NEWLINE:
            raise MissingNewlineError("multistream message does not end in a newline")
        return frame[:-1]

    def _check_header(self, body: bytes) -> None:
        if body != _HEADER_BODY:
            raise IncorrectVersionError(f"expected {PROTOCOL_ID!r} first, got {body[:64]!r}")
        self._header_seen = True

    def _agree(self, protocol: str) -> None:
        self._agreed = protocol
        self._events.append(ProtocolAgreed(protocol))
        self._finished = True

    def _handle(self, body: bytes) -> None:
        raise NotImplementedError


class MultistreamDialer(_Negotiator):
    """The initiator: proposes ``protocols`` in order until one is accepted.

    The header and the first proposal go out in one flight (read them with ``data_to_send()``
    right after construction). With ``optimistic`` and exactly one protocol the dialer is "lazy":
    ``writable`` is true at once, so protocol data may be written right after the proposal; the
    echo is checked when it arrives (``ProtocolAgreed``, or ``ProtocolRejected`` if the listener
    refused, in which case the data already written was lost and the stream should be reset).

    ``list_protocols=True`` first asks ``ls`` (pipelined before the first proposal) and reports the
    answer as ``ProtocolsListed``; with no ``protocols`` the dialer then finishes.
    """

    __slots__ = ("_awaiting_list", "_expected", "_index", "_lazy", "_protocols")

    def __init__(
        self, protocols: Sequence[str], *, optimistic: bool = True, list_protocols: bool = False
    ) -> None:
        if isinstance(protocols, str):
            raise NegotiationStateError("protocols must be a sequence of protocol ids, not one str")
        protos = tuple(protocols)
        for p in protos:
            if type(p) is not str or p not in _PROPOSALS:
                _remember_proposal(p)
        if not protos and not list_protocols:
            raise NegotiationStateError("no protocols to propose")
        super().__init__(MAX_LIST_RESPONSE_SIZE if list_protocols else MAX_MESSAGE_SIZE)
        self._protocols = protos
        self._index = 0
        self._lazy = optimistic and len(protos) == 1
        self._awaiting_list = list_protocols
        if list_protocols:
            self._out += _LS_MESSAGE
        # What a listener that takes the first proposal answers: the header and that proposal.
        self._expected = b""
        if protos:
            proposal = _PROPOSALS.get(protos[0]) or encode_message(protos[0])
            self._out += proposal
            if not list_protocols:
                self._expected = _HEADER + proposal

    def _at_once(self, data: bytes | bytearray | memoryview) -> bool:
        expected = self._expected
        n = len(expected)
        if not n or len(data) < n or data[:n] != expected:
            return False
        self._header_seen = True
        self._agree(self._protocols[0])
        if len(data) > n:
            self._unused += data[n:]
        return True

    @property
    def lazy(self) -> bool:
        """Optimistic single-protocol mode: data may follow the proposal before the echo."""
        return self._lazy

    @property
    def writable(self) -> bool:
        """Protocol data may be written now (lazy mode, or after agreement)."""
        return self._agreed is not None or (self._lazy and not self._finished)

    @property
    def protocols(self) -> tuple[str, ...]:
        return self._protocols

    def _handle(self, body: bytes) -> None:
        if not self._header_seen:
            self._check_header(body)
            return
        if self._awaiting_list:
            self._awaiting_list = False
            if body == b"na":
                self._events.append(ProtocolsListed((), refused=True))
            else:
                self._events.append(ProtocolsListed(decode_list_response(body)))
            if not self._protocols:
                self._finished = True
            return
        if len(body) + 1 > MAX_MESSAGE_SIZE:
            # Only reachable in listing mode, where the reader admits the larger ls answer.
            raise MessageTooLargeError(f"message of {len(body) + 1} bytes exceeds {MAX_MESSAGE_SIZE}")
        text = _decode_text(body)
        current = self._protocols[self._index]
        if text == current:
            self._agree(current)
        elif text == NA:
            self._index += 1
            if self._index >= len(self._protocols):
                self._events.append(ProtocolRejected(self._protocols))
                self._finished = True
            else:
                logger.debug("multistream: %r refused, proposing %r", current, self._protocols[self._index])
                self._out += encode_message(self._protocols[self._index])
        else:
            raise UnexpectedResponseError(f"proposed {current!r}, listener answered {text[:64]!r}")


def _listing(protocols: Collection[str]) -> tuple[str, ...]:
    """What ``ls`` answers: the protocols checked, sorted when unordered."""
    if isinstance(protocols, (set, frozenset)):
        return tuple(sorted(_check_protocol_id(p) for p in protocols))
    return tuple(_check_protocol_id(p) for p in protocols)


class MultistreamListener(_Negotiator):
    """The responder: echoes the first proposal it supports and answers ``na`` to the others.

    ``supported`` is either a collection of protocol ids or a predicate. ``ls`` is answered with
    ``listed`` (default: the collection, sorted when unordered; a callable is called at the first
    ``ls``); with a predicate and no ``listed`` it is answered ``na``, as go-multistream does. The
    header is queued at construction; an adapter that wants header and answer in one write reads
    ``data_to_send()`` only after the first ``receive_data``.
    """

    __slots__ = ("_accepts", "_listed", "_max_rounds", "_rounds", "refused")

    def __init__(
        self,
        supported: Callable[[str], bool] | Collection[str],
        *,
        listed: Collection[str] | Callable[[], Collection[str]] | None = None,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> None:
        super().__init__(MAX_MESSAGE_SIZE)
        self._accepts: Callable[[str], bool]
        listing: Collection[str] | Callable[[], Collection[str]] | None = listed
        if callable(supported):
            self._accepts = supported
        else:
            known = frozenset(supported)
            self._accepts = known.__contains__
            if listing is None:
                listing = supported
        # A callable listing is asked (and checked) only if the dialer sends ``ls``: most never do.
        self._listed: tuple[str, ...] | Callable[[], Collection[str]] | None = (
            listing if listing is None or callable(listing) else _listing(listing))
        if max_rounds < 1:
            raise NegotiationStateError("max_rounds must be at least 1")
        self._rounds = 0
        self._max_rounds = max_rounds
        self.refused = 0  # proposals answered "na"

    def _at_once(self, data: bytes | bytearray | memoryview) -> bool:
        # The header, then one proposal of under 127 bytes (a one-byte length) that we take.
        h = len(_HEADER)
        if len(data) <= h or data[:h] != _HEADER:
            return False
        length = data[h]
        end = h + 1 + length
        if not 2 <= length < 0x80 or end > len(data) or data[end - 1] != _NEWLINE:
            return False
        try:
            text = bytes(data[h + 1 : end - 1]).decode("utf-8")
        except UnicodeDecodeError:
            return False
        if text in (NA, LS, PROTOCOL_ID, SIMULTANEOUS_CONNECT) or not self._accepts(text):
            return False
        self._header_seen = True
        self._rounds = 1
        self._out += data[h:end]  # the proposal echoed exactly as received
        self._agree(text)
        if len(data) > end:
            self._unused += data[end:]
        return True

    def _handle(self, body: bytes) -> None:
        if not self._header_seen:
            self._check_header(body)
            return
        self._rounds += 1
        if self._rounds > self._max_rounds:
            raise TooManyRoundsError(f"dialer made more than {self._max_rounds} proposals")
        text = _decode_text(body)
        if text == LS:
            if callable(self._listed):
                self._listed = _listing(self._listed())
            self._out += _NA_MESSAGE if self._listed is None else encode_list_response(self._listed)
            return
        if text not in (NA, PROTOCOL_ID, SIMULTANEOUS_CONNECT) and self._accepts(text):
            # Echo the id exactly as received.
            self._out += varint_encode(len(body) + 1)
            self._out += body
            self._out += b"\n"
            self._agree(text)
            return
        logger.debug("multistream: refusing %r", text[:64])
        self.refused += 1
        self._out += _NA_MESSAGE
