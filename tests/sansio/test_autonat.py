"""AutoNAT v1's sans-IO pieces: wire format, the server's dial-back policy (no third party, no
private or loopback address, no relayed requester, throttles) and the reachability tracker."""

from __future__ import annotations

import pytest

from libp2p.errors import DecodeError
from libp2p.host.events import Reachability
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import autonat_pb2
from libp2p.protocols.autonat.core import AutonatConfig, ReachabilityTracker, ServerPolicy
from libp2p.protocols.autonat.wire import (
    AutonatDecodeError,
    DialRequest,
    DialResponse,
    ResponseStatus,
    decode_dial,
    decode_response,
    encode_dial,
    encode_response,
)

ME = PeerId.from_public_key(generate_key_pair().public_key)
OTHER = PeerId.from_public_key(generate_key_pair().public_key)
OBSERVED = Multiaddr("/ip4/203.0.113.9/tcp/51000")


def policy(**kw: object) -> ServerPolicy:
    return ServerPolicy(AutonatConfig(**kw))  # type: ignore[arg-type]


def test_wire_round_trip() -> None:
    req = DialRequest(ME, (Multiaddr("/ip4/1.2.3.4/tcp/1"),))
    assert decode_dial(encode_dial(req)) == req
    resp = DialResponse(int(ResponseStatus.OK), "", Multiaddr("/ip4/1.2.3.4/tcp/1"))
    assert decode_response(encode_response(resp)) == resp
    assert autonat_pb2.Message.E_DIAL_REFUSED == 101


@pytest.mark.parametrize("body", [b"", b"\x08\x01", b"\x08\x00", b"\x08\x00\x12\x02\x0a\x00",
                                  b"\x08\x00\x12\x04\x0a\x02\x0a\x00", b"\xff\xff", b"\x08\x00" + b"\x12\x80\x20" + b"\x00" * 4096])
def test_malformed_dial_requests(body: bytes) -> None:
    with pytest.raises(AutonatDecodeError) as exc:
        decode_dial(body)
    assert isinstance(exc.value, DecodeError)


def test_server_dials_only_the_requesters_ip() -> None:
    third_party = Multiaddr("/ip4/198.51.100.1/tcp/4001")
    own = Multiaddr("/ip4/203.0.113.9/tcp/4001")
    status, _, addrs = policy().decide(ME, DialRequest(ME, (third_party, own)), OBSERVED, False, 0.0)
    assert status == ResponseStatus.OK and addrs == [OBSERVED, own]
    # only third-party addresses, from a requester whose own IP is private: refused
    status, text, addrs = policy().decide(ME, DialRequest(ME, (third_party,)), Multiaddr("/ip4/10.0.0.5/tcp/1"),
                                          False, 0.0)
    assert status == ResponseStatus.E_DIAL_REFUSED and addrs == [] and "observed" in text


@pytest.mark.parametrize("observed", ["/ip4/127.0.0.1/tcp/1", "/ip4/10.1.2.3/tcp/1", "/ip4/192.168.1.1/tcp/1",
                                      "/ip4/172.16.0.1/tcp/1", "/ip6/fd00::1/tcp/1", "/ip6/fe80::1/tcp/1",
                                      "/ip4/0.0.0.0/tcp/1"])
def test_server_never_dials_private_or_loopback(observed: str) -> None:
    p = policy()
    status, _, addrs = p.decide(ME, DialRequest(ME, ()), Multiaddr(observed), False, 0.0)
    assert status == ResponseStatus.E_DIAL_REFUSED and addrs == []
    if "127.0.0.1" not in observed and "fe80" not in observed and "0.0.0.0" not in observed:
        status, _, _ = policy(allow_private=True).decide(ME, DialRequest(ME, ()), Multiaddr(observed), False, 0.0)
        assert status == ResponseStatus.OK


def test_server_refuses_other_peers_relayed_and_floods() -> None:
    p = policy(throttle_peer=2, throttle_global=3, throttle_period=60.0)
    assert p.decide(ME, DialRequest(OTHER, ()), OBSERVED, False, 0.0)[0] == ResponseStatus.E_BAD_REQUEST
    assert p.decide(ME, DialRequest(ME, ()), OBSERVED, True, 0.0)[0] == ResponseStatus.E_DIAL_REFUSED
    assert [p.decide(ME, DialRequest(ME, ()), OBSERVED, False, t)[0] for t in (1, 2, 3)] == [
        ResponseStatus.OK, ResponseStatus.OK, ResponseStatus.E_DIAL_REFUSED]
    assert p.decide(OTHER, DialRequest(OTHER, ()), OBSERVED, False, 4)[0] == ResponseStatus.OK
    third = PeerId.from_public_key(generate_key_pair().public_key)
    assert p.decide(third, DialRequest(third, ()), OBSERVED, False, 5)[0] == ResponseStatus.E_DIAL_REFUSED
    assert p.refused["throttled"] == 1 and p.refused["throttled peer"] == 1
    # the window moves on
    assert p.decide(third, DialRequest(third, ()), OBSERVED, False, 62)[0] == ResponseStatus.OK


def test_reachability_tracker() -> None:
    servers = [PeerId.from_public_key(generate_key_pair().public_key) for _ in range(4)]
    t = ReachabilityTracker(3)
    assert t.record(servers[0], ResponseStatus.OK) is None
    assert t.record(servers[1], ResponseStatus.E_DIAL_REFUSED) is None  # no evidence
    assert t.record(servers[1], None) is None
    assert t.record(servers[1], ResponseStatus.OK) is None
    assert t.record(servers[2], ResponseStatus.OK) == Reachability.PUBLIC
    assert t.reachability == Reachability.PUBLIC and t.confident
    # a server's new answer replaces its old one
    for s in servers[:3]:
        t.record(s, ResponseStatus.E_DIAL_ERROR)
    assert t.reachability == Reachability.PRIVATE
    assert t.record(servers[3], ResponseStatus.OK) is None  # one OK against three errors
