"""AutoNAT v2's sans-IO pieces: wire format, address choice, dial data, throttle, and the
client's verdict (an OK counts only with our nonce's dial-back)."""

from __future__ import annotations

import pytest

from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.autonatv2.core import (
    AutonatV2Config,
    DialDataReceiver,
    Throttle,
    choose_addr,
    needs_dial_data,
    verdict,
)
from libp2p.protocols.autonatv2.wire import (
    AutonatV2DecodeError,
    DialDataRequest,
    DialDataResponse,
    DialRequest,
    DialResponse,
    DialStatus,
    ResponseStatus,
    decode_dial_back,
    decode_message,
    encode_dial_back,
    encode_message,
)


def test_wire_round_trips() -> None:
    for msg in (DialRequest((Multiaddr("/ip4/1.2.3.4/tcp/1"),), (1 << 64) - 1), DialResponse(200, 2, 101),
                DialDataRequest(1, 50_000), DialDataResponse(b"x" * 4096)):
        assert decode_message(encode_message(msg)) == msg
    assert decode_dial_back(encode_dial_back(42)) == 42
    # nonce is fixed64: 8 bytes on the wire
    assert encode_dial_back(1) == b"\x09" + (1).to_bytes(8, "little")


@pytest.mark.parametrize("body", [b"", b"\xff\xff", b"\x22\x82\x20\x0a\x80\x20" + b"x" * 4097, b"\x0a" + b"\x80\x40" + b"x" * 8192])
def test_malformed(body: bytes) -> None:
    with pytest.raises(AutonatV2DecodeError):
        decode_message(body)


def test_choose_addr_and_dial_data() -> None:
    config = AutonatV2Config()
    addrs = (Multiaddr("/ip4/10.0.0.1/tcp/1"), Multiaddr("/ip4/127.0.0.1/tcp/1"), Multiaddr("/dns4/x.org/tcp/1"),
             Multiaddr("/ip4/203.0.113.5/udp/1/quic-v1"), Multiaddr("/ip4/203.0.113.5/tcp/4001/p2p/12D3KooWAPZMuJm1Q3sAUezGd9EfM4mWr8A3vko9bxBmm1WNn5J1"))
    assert choose_addr(addrs, config) == (4, Multiaddr("/ip4/203.0.113.5/tcp/4001"))
    assert choose_addr(addrs[:4], config) is None
    assert choose_addr(addrs, AutonatV2Config(allow_private=True)) == (0, Multiaddr("/ip4/10.0.0.1/tcp/1"))
    assert not needs_dial_data(Multiaddr("/ip4/203.0.113.5/tcp/4001"), Multiaddr("/ip4/203.0.113.5/tcp/999"))
    assert needs_dial_data(Multiaddr("/ip4/198.51.100.1/tcp/4001"), Multiaddr("/ip4/203.0.113.5/tcp/999"))
    receiver = DialDataReceiver(10_000)
    assert not receiver.receive(b"x" * 4096) and not receiver.receive(b"x" * 4096)
    assert receiver.receive(b"x" * 4096)
    with pytest.raises(AutonatV2DecodeError):
        DialDataReceiver(10).receive(b"x" * 4097)
    with pytest.raises(AutonatV2DecodeError):
        DialDataReceiver(10).receive(b"")


def test_verdict_needs_the_nonce() -> None:
    ok = DialResponse(int(ResponseStatus.OK), 0, int(DialStatus.OK))
    assert verdict(ok, 1, dialed_back=True) is True
    assert verdict(ok, 1, dialed_back=False) is None  # a server claiming OK without dialing us
    assert verdict(DialResponse(200, 5, 200), 1, True) is None  # an index we did not send
    assert verdict(DialResponse(200, 0, int(DialStatus.E_DIAL_ERROR)), 1, False) is False
    assert verdict(DialResponse(200, 0, int(DialStatus.E_DIAL_BACK_ERROR)), 1, False) is None
    assert verdict(DialResponse(int(ResponseStatus.E_DIAL_REFUSED)), 1, False) is None
    assert verdict(DialResponse(200, 0, 999), 1, True) is None  # unknown status: discarded


def test_throttle() -> None:
    a, b = (PeerId.from_public_key(generate_key_pair().public_key) for _ in range(2))
    t = Throttle(per_peer=2, total=3, period=60)
    assert [t.admit(a, 0), t.admit(a, 1), t.admit(a, 2)] == [True, True, False]
    assert t.admit(b, 3) and not t.admit(b, 4)
    assert t.admit(a, 61)
