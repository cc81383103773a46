"""multistream-select 1.0: the dialer and listener cores, pumped in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, FrameTooLargeError, LocalProtocolError, RemoteProtocolError
from libp2p.negotiate import (
    LS,
    NA,
    PROTOCOL_ID,
    SIMULTANEOUS_CONNECT,
    EmptyMessageError,
    IncorrectVersionError,
    InvalidListResponseError,
    MessageDecodeError,
    MessageTooLargeError,
    MissingNewlineError,
    MultistreamDialer,
    MultistreamListener,
    NegotiationError,
    NegotiationEvent,
    NegotiationStateError,
    ProtocolAgreed,
    ProtocolRejected,
    ProtocolsListed,
    TooManyRoundsError,
    UnexpectedResponseError,
    decode_list_response,
    encode_list_response,
    encode_message,
)
from libp2p.negotiate.core import _Negotiator
from tests.conftest import load_vector

_VEC = load_vector("derived/multistream-select.json")
_HEADER = encode_message(PROTOCOL_ID)


def events(n: _Negotiator) -> list[NegotiationEvent]:
    out = []
    while (e := n.next_event()) is not None:
        out.append(e)
    return out


def pump(d: MultistreamDialer, l: MultistreamListener) -> None:
    """Move bytes both ways until neither side has anything to send."""
    while True:
        a = d.data_to_send()
        if a:
            l.receive_data(a)
        b = l.data_to_send()
        if b:
            d.receive_data(b)
        if not a and not b:
            return


def splits(data: bytes) -> Iterator[list[bytes]]:
    """Every two-piece split, and byte by byte."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]


# --- vectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("msg", _VEC["messages"], ids=lambda m: m["text"])
def test_message_vectors(msg: dict[str, str]) -> None:
    assert encode_message(msg["text"]) == bytes.fromhex(msg["hex"])


@pytest.mark.parametrize(
    "msg", [m for m in _VEC["messages"] if m["text"].startswith("/") and m["text"] != PROTOCOL_ID]
)
def test_vector_protocols_are_echoed(msg: dict[str, str]) -> None:
    listener = MultistreamListener([msg["text"]])
    listener.receive_data(_HEADER + bytes.fromhex(msg["hex"]))
    assert listener.data_to_send() == _HEADER + bytes.fromhex(msg["hex"])
    assert events(listener) == [ProtocolAgreed(msg["text"])]


def test_first_flight_vector() -> None:
    dialer = MultistreamDialer(["/noise", "/tls/1.0.0"])
    assert dialer.data_to_send() == bytes.fromhex(_VEC["initiator_first_flight_hex"])
    assert not dialer.writable  # two protocols: not lazy


def test_ls_response_vector() -> None:
    ex = _VEC["ls_response_example"]
    raw = bytes.fromhex(ex["hex"])
    assert encode_list_response(ex["protocols"]) == raw
    # Outer message body, trailing newline removed.
    assert decode_list_response(raw[1:-1]) == tuple(ex["protocols"])
    listener = MultistreamListener(ex["protocols"])
    listener.receive_data(_HEADER + encode_message(LS))
    assert listener.data_to_send() == _HEADER + raw


def test_na_and_ls_constants() -> None:
    assert encode_message(NA) == bytes.fromhex("036e610a")
    assert encode_message(LS) == bytes.fromhex("036c730a")


# --- dialer <-> listener ----------------------------------------------------------------------


@pytest.mark.parametrize("optimistic", [True, False])
def test_agree_single(optimistic: bool) -> None:
    d = MultistreamDialer(["/yamux/1.0.0"], optimistic=optimistic)
    l = MultistreamListener({"/yamux/1.0.0", "/mplex/6.7.0"})
    assert d.lazy is optimistic and d.writable is optimistic
    pump(d, l)
    assert events(d) == [ProtocolAgreed("/yamux/1.0.0")]
    assert events(l) == [ProtocolAgreed("/yamux/1.0.0")]
    assert d.writable and d.finished and l.finished
    assert d.protocol == l.protocol == "/yamux/1.0.0"
    assert d.unused_data() == l.unused_data() == b""


def test_every_split_of_the_dialer_stream() -> None:
    first = MultistreamDialer(["/noise"]).data_to_send() + b"\x05early"
    for pieces in splits(first):
        l = MultistreamListener(["/noise"])
        got = bytearray()
        for p in pieces:
            l.receive_data(p)
            got += l.unused_data()
        assert events(l) == [ProtocolAgreed("/noise")]
        assert bytes(got) == b"\x05early"
        assert l.data_to_send() == _HEADER + encode_message("/noise")


def test_every_split_of_the_listener_stream() -> None:
    answer = _HEADER + encode_message(NA) + encode_message("/b") + b"reply-bytes"
    for pieces in splits(answer):
        d = MultistreamDialer(["/a", "/b"])
        d.data_to_send()
        got = bytearray()
        for p in pieces:
            d.receive_data(p)
            got += d.unused_data()
        assert events(d) == [ProtocolAgreed("/b")]
        assert bytes(got) == b"reply-bytes"
        assert d.data_to_send() == encode_message("/b")


def test_na_then_next() -> None:
    d = MultistreamDialer(["/tls/1.0.0", "/noise"])
    l = MultistreamListener(["/noise"])
    pump(d, l)
    assert events(d) == [ProtocolAgreed("/noise")]
    assert events(l) == [ProtocolAgreed("/noise")]


def test_all_refused() -> None:
    d = MultistreamDialer(["/a", "/b", "/c"])
    l = MultistreamListener(["/z"])
    pump(d, l)
    assert events(d) == [ProtocolRejected(("/a", "/b", "/c"))]
    assert d.finished and not l.finished and d.protocol is None and not d.writable
    assert events(l) == []


def test_lazy_refused() -> None:
    d = MultistreamDialer(["/a"])
    assert d.writable
    l = MultistreamListener(lambda p: False)
    pump(d, l)
    assert events(d) == [ProtocolRejected(("/a",))]
    assert not d.writable


def test_optimistic_data_in_the_same_flight() -> None:
    """The lazy dialer writes right behind its proposal; the listener hands those bytes back."""
    d = MultistreamDialer(["/echo/1.0.0"])
    assert d.writable
    app = b"\x13/multistream/1.0.0\n" + bytes(range(256)) + b"\xff" * 20  # looks like a message, and garbage
    flight = d.data_to_send() + app
    for pieces in splits(flight):
        l = MultistreamListener(["/echo/1.0.0"])
        got = bytearray()
        for p in pieces:
            l.receive_data(p)
            got += l.unused_data()
        assert bytes(got) == app
        assert events(l) == [ProtocolAgreed("/echo/1.0.0")]
    # The listener's answer plus its own protocol data come back to the dialer the same way.
    reply = l.data_to_send() + b"pong"
    d.receive_data(reply)
    assert events(d) == [ProtocolAgreed("/echo/1.0.0")]
    assert d.unused_data() == b"pong"
    d.receive_data(b" more")
    assert d.unused_data() == b" more"


def test_unused_data_empty_before_agreement() -> None:
    l = MultistreamListener(["/x"])
    l.receive_data(_HEADER + b"\x03/x")
    assert l.unused_data() == b"" and not l.finished


def test_predicate_listener() -> None:
    d = MultistreamDialer(["/ipfs/ping/1.0.0"])
    l = MultistreamListener(lambda p: p.startswith("/ipfs/"))
    pump(d, l)
    assert l.protocol == "/ipfs/ping/1.0.0"


def test_simultaneous_connect_is_refused() -> None:
    l = MultistreamListener(lambda p: True)
    l.receive_data(
        _HEADER + encode_message(SIMULTANEOUS_CONNECT) + encode_message(NA) + encode_message(PROTOCOL_ID)
    )
    assert l.data_to_send() == _HEADER + encode_message(NA) * 3
    assert events(l) == []


def test_listener_counts_rounds() -> None:
    l = MultistreamListener(["/z"], max_rounds=3)
    l.receive_data(_HEADER + encode_message("/a") * 3)
    with pytest.raises(TooManyRoundsError) as info:
        l.receive_data(encode_message("/a"))
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(NegotiationStateError):
        l.receive_data(b"")


# --- ls ---------------------------------------------------------------------------------------


def test_ls_then_propose_pipelined() -> None:
    d = MultistreamDialer(["/b"], list_protocols=True)
    first = d.data_to_send()
    assert first == _HEADER + encode_message(LS) + encode_message("/b")
    l = MultistreamListener(["/c", "/b", "/a"])
    l.receive_data(first)
    d.receive_data(l.data_to_send())
    assert events(d) == [ProtocolsListed(("/c", "/b", "/a")), ProtocolAgreed("/b")]  # a list keeps its order


def test_ls_only() -> None:
    d = MultistreamDialer([], list_protocols=True)
    l = MultistreamListener(["/x", "/y"], listed=["/y", "/x"])
    pump(d, l)
    assert events(d) == [ProtocolsListed(("/y", "/x"))]
    assert d.finished and d.protocol is None


def test_ls_answered_from_a_listing_asked_for_only_then() -> None:
    asked = []

    def listing() -> list[str]:
        asked.append(1)
        return ["/y", "/x"]

    quiet = MultistreamListener(lambda p: p == "/x", listed=listing)
    pump(MultistreamDialer(["/x"]), quiet)
    assert quiet.protocol == "/x" and not asked  # a plain proposal never builds the listing
    d = MultistreamDialer([], list_protocols=True)
    pump(d, MultistreamListener(lambda p: True, listed=listing))
    assert events(d) == [ProtocolsListed(("/y", "/x"))] and asked == [1]


def test_ls_refused_by_a_predicate_listener() -> None:
    d = MultistreamDialer([], list_protocols=True)
    pump(d, MultistreamListener(lambda p: True))
    assert events(d) == [ProtocolsListed((), refused=True)]


def test_ls_empty_list() -> None:
    d = MultistreamDialer([], list_protocols=True)
    pump(d, MultistreamListener([]))
    assert events(d) == [ProtocolsListed(())]


def test_ls_large_answer() -> None:
    protos = [f"/proto/{i:04d}/" + "x" * 40 for i in range(100)]  # ~5 KB: above the 1024 message bound
    d = MultistreamDialer(protos[-1:], list_protocols=True)
    pump(d, MultistreamListener(protos))
    assert events(d) == [ProtocolsListed(tuple(sorted(protos))), ProtocolAgreed(protos[-1])]


@pytest.mark.parametrize(
    "body",
    [b"\x00", b"\x01\n", b"\x05/abc", b"\x04/ab\x00", b"\x80", b"\x03/a\n\x09", b"\x03\xff\xfe\n"],
)
def test_bad_ls_answer(body: bytes) -> None:
    with pytest.raises(MessageDecodeError):
        decode_list_response(body)
    d = MultistreamDialer([], list_protocols=True)
    d.data_to_send()
    with pytest.raises(MessageDecodeError):
        d.receive_data(_HEADER + varint_encode(len(body) + 1) + body + b"\n")


def test_too_many_listed() -> None:
    with pytest.raises(InvalidListResponseError):
        decode_list_response(encode_message("/a") * 1001)


def test_regular_message_bound_in_listing_mode() -> None:
    d = MultistreamDialer(["/a"], list_protocols=True)
    d.receive_data(_HEADER + encode_list_response(["/a"]))
    with pytest.raises(MessageTooLargeError):
        d.receive_data(encode_message("/" + "a" * 1100))


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (varint_encode(1025) + b"x" * 10, MessageTooLargeError),
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", MessageDecodeError),  # overlong length prefix
        (b"\x81\x00", MessageDecodeError),  # non-minimal length prefix
        (b"\x00", EmptyMessageError),
        (b"\x13/multistream/1.0.0X", MissingNewlineError),
        (encode_message("/multistream/2.0.0"), IncorrectVersionError),
        (encode_message("/noise"), IncorrectVersionError),
        (_HEADER + b"\x01\n", EmptyMessageError),
        (_HEADER + b"\x03\xc3\x28\n", MessageDecodeError),  # invalid UTF-8
        (_HEADER + b"\x00", EmptyMessageError),
        (_HEADER + b"\x02ab", MissingNewlineError),
    ],
)
def test_listener_rejects(data: bytes, error: type[Exception]) -> None:
    l = MultistreamListener(["/a"])
    with pytest.raises(error) as info:
        l.receive_data(data)
    assert isinstance(info.value, NegotiationError)
    assert isinstance(info.value, (DecodeError, RemoteProtocolError))
    if error is MessageTooLargeError:
        assert isinstance(info.value, FrameTooLargeError)
    with pytest.raises(NegotiationStateError):
        l.receive_data(b"")


def test_exactly_1024_is_allowed() -> None:
    proto = "/" + "p" * 1022  # 1023 + newline = 1024
    d = MultistreamDialer([proto])
    l = MultistreamListener([proto])
    pump(d, l)
    assert events(l) == [ProtocolAgreed(proto)]
    with pytest.raises(NegotiationStateError):
        MultistreamDialer([proto + "p"])


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (encode_message("/b"), UnexpectedResponseError),
        (encode_message(LS), UnexpectedResponseError),
        (b"\x01\n", EmptyMessageError),
        (varint_encode(2000), MessageTooLargeError),
    ],
)
def test_dialer_rejects(answer: bytes, error: type[Exception]) -> None:
    d = MultistreamDialer(["/a"])
    with pytest.raises(error):
        d.receive_data(_HEADER + answer)


@pytest.mark.parametrize("bad", [[], ["na"], ["ls"], [PROTOCOL_ID], [""], ["/a\n"], "/a", [b"/a"]])
def test_dialer_misuse(bad: object) -> None:
    with pytest.raises(NegotiationStateError) as info:
        MultistreamDialer(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, LocalProtocolError)


def test_listener_misuse() -> None:
    with pytest.raises(NegotiationStateError):
        MultistreamListener(["/a"], max_rounds=0)
    with pytest.raises(NegotiationStateError):
        MultistreamListener(["bad\n"])


def test_timer_face() -> None:
    d = MultistreamDialer(["/a"])
    assert d.get_timer() is None
    d.handle_timer(1.0)


# --- fuzz -------------------------------------------------------------------------------------


def _allowed(exc: Exception) -> bool:
    return isinstance(exc, NegotiationError) and isinstance(exc, (DecodeError, RemoteProtocolError))


@settings(max_examples=400)
@given(st.binary(max_size=200), st.booleans(), st.integers(min_value=1, max_value=17))
def test_fuzz_listener(data: bytes, with_header: bool, step: int) -> None:
    l = MultistreamListener(["/a", "/b"], max_rounds=8)
    stream = (_HEADER if with_header else b"") + data
    try:
        for i in range(0, len(stream), step):
            l.receive_data(stream[i : i + step])
    except Exception as exc:  # noqa: BLE001 - only typed errors may escape
        assert _allowed(exc), repr(exc)
        return
    if l.finished:
        # Nothing past the echoed proposal was consumed.
        assert stream.endswith(l.unused_data())


@settings(max_examples=400)
@given(st.binary(max_size=200), st.booleans(), st.booleans(), st.integers(min_value=1, max_value=17))
def test_fuzz_dialer(data: bytes, with_header: bool, listing: bool, step: int) -> None:
    d = MultistreamDialer(["/a", "/b"], list_protocols=listing)
    stream = (_HEADER if with_header else b"") + data
    try:
        for i in range(0, len(stream), step):
            d.receive_data(stream[i : i + step])
    except Exception as exc:  # noqa: BLE001
        assert _allowed(exc), repr(exc)


_proto = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), min_size=1, max_size=30).map(
    lambda s: "/" + s
)


@settings(max_examples=200)
@given(
    st.lists(_proto, min_size=1, max_size=6, unique=True),
    st.sets(_proto, max_size=6),
    st.binary(max_size=40),
    st.booleans(),
)
def test_fuzz_negotiation(proposals: list[str], supported: set[str], app: bytes, optimistic: bool) -> None:
    accepted = supported | {proposals[-1]} if len(proposals) > 1 else supported
    d = MultistreamDialer(proposals, optimistic=optimistic)
    l = MultistreamListener(accepted)
    flight = d.data_to_send()
    expected = next((p for p in proposals if p in accepted), None)
    # A lazy dialer's data after a refused proposal would be read as negotiation: don't send it then.
    if d.writable and expected is not None:
        flight += app
    l.receive_data(flight)
    d.receive_data(l.data_to_send())
    pump(d, l)
    if expected is None:
        assert events(d) == [ProtocolRejected(tuple(proposals))]
    else:
        assert events(d) == [ProtocolAgreed(expected)]
        assert events(l) == [ProtocolAgreed(expected)]
        if d.lazy:
            assert l.unused_data() == app


def test_dialer_remembers_only_checked_proposals() -> None:
    # Checked ids are remembered with their message; a bad one is refused every time, never kept.
    first = MultistreamDialer(["/remembered/1.0.0", "/second"]).data_to_send()
    assert first == _HEADER + encode_message("/remembered/1.0.0")
    assert MultistreamDialer(["/remembered/1.0.0"]).data_to_send() == first
    for _ in range(2):
        with pytest.raises(NegotiationStateError):
            MultistreamDialer(["/ok", "bad\n"])
        with pytest.raises(NegotiationStateError):
            MultistreamDialer([["/unhashable"]])  # type: ignore[list-item]


def _outcome(core: MultistreamListener | MultistreamDialer, stream: bytes, step: int) -> tuple[object, ...]:
    """What a core makes of ``stream`` fed ``step`` bytes at a time (0: in one call)."""
    events: list[object] = []
    try:
        for i in range(0, len(stream), step or len(stream) or 1):
            core.receive_data(stream[i : i + step] if step else memoryview(stream))
    except NegotiationError as exc:
        return ("error", type(exc))
    while (event := core.next_event()) is not None:
        events.append(event)
    return (core.data_to_send(), events, core.finished, core.unused_data())


_first_flights = st.one_of(
    st.binary(max_size=60),
    st.tuples(st.sampled_from(["/a", "/b", "/c", NA, LS, PROTOCOL_ID, SIMULTANEOUS_CONNECT, "/" + "x" * 130]),
              st.binary(max_size=20)).map(lambda t: encode_message(t[0]) + t[1]),
)


@settings(max_examples=300)
@given(_first_flights, st.booleans(), st.integers(min_value=1, max_value=7))
def test_a_whole_first_flight_at_once_is_handled_as_byte_by_byte(data: bytes, with_header: bool, step: int) -> None:
    """The usual first flight in one read (header, one message, protocol data) takes a shortcut
    in both cores; what comes out must be what feeding it in pieces gives."""
    stream = (_HEADER if with_header else b"") + data
    assert _outcome(MultistreamListener(["/a", "/b"]), stream, 0) == _outcome(MultistreamListener(["/a", "/b"]), stream, step)
    for protocols in (["/a"], ["/a", "/b"], ["/c"]):
        assert _outcome(MultistreamDialer(protocols), stream, 0) == _outcome(MultistreamDialer(protocols), stream, step)


def test_the_usual_first_flights_take_the_shortcut() -> None:
    listener = MultistreamListener(["/echo/1.0.0"])
    listener.receive_data(_HEADER + encode_message("/echo/1.0.0") + b"x")
    assert listener._reader is None and listener.protocol == "/echo/1.0.0" and listener.unused_data() == b"x"
    dialer = MultistreamDialer(["/echo/1.0.0"])
    dialer.receive_data(listener.data_to_send() + b"y")
    assert dialer._reader is None and isinstance(dialer.next_event(), ProtocolAgreed) and dialer.unused_data() == b"y"


class _Buffered:
    """What ``accept_buffered`` sees of a stream: buffered bytes, a send window, put-back bytes."""

    def __init__(self, data: bytes, window: int = 1 << 20) -> None:
        self.buffered = data
        self.window = window
        self.sent = b""

    def read_nowait(self, n: int) -> bytes:
        out, self.buffered = self.buffered[:n], self.buffered[n:]
        return out

    def write_nowait(self, data: bytes) -> int:
        taken = data[: self.window]
        self.sent += taken
        self.window -= len(taken)
        return len(taken)

    def unread(self, data: bytes) -> None:
        self.buffered = data + self.buffered


@pytest.mark.parametrize("flight, agreed, unsent_len, left", [
    (_HEADER + encode_message("/a") + b"data", "/a", 0, b"data"),  # the usual: agreed, data put back
    (_HEADER + encode_message("/x"), None, 0, None),  # refused: left for accept_protocol to answer "na"
    (_HEADER, None, 0, None),  # the proposal has not arrived
    (b"\x05junk", None, 0, None),  # not multistream: accept_protocol reports it
    (_HEADER + encode_message(LS) + encode_message("/b"), "/b", 0, b""),  # ls then a proposal, in one flight
])
def test_accept_buffered_settles_only_a_whole_first_flight(
    flight: bytes, agreed: str | None, unsent_len: int, left: bytes | None
) -> None:
    from libp2p.negotiate.service import accept_buffered

    s = _Buffered(flight)
    got = accept_buffered(s.read_nowait, s.write_nowait, s.unread, {"/a", "/b"}, listed=["/a", "/b"])
    if agreed is None:
        assert got is None and s.buffered == flight and s.sent == b""  # nothing consumed, nothing sent
        return
    assert got is not None and got[0] == agreed and len(got[1]) == unsent_len and s.buffered == left
    assert s.sent.startswith(_HEADER) and s.sent.endswith(encode_message(agreed))


def test_accept_buffered_hands_back_what_the_window_did_not_take() -> None:
    from libp2p.negotiate.service import accept_buffered

    s = _Buffered(_HEADER + encode_message("/a"), window=5)
    got = accept_buffered(s.read_nowait, s.write_nowait, s.unread, ["/a"])
    assert got is not None and got[0] == "/a"
    assert s.sent + got[1] == _HEADER + encode_message("/a") and len(s.sent) == 5
