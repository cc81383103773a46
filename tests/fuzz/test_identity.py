"""Multiaddrs, base58/multibase/CIDs, peer IDs, keys, envelopes and peer records."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from libp2p.errors import InvalidKeyError, MultiaddrError
from libp2p.identity.envelope import MAX_ENVELOPE_SIZE, SignedEnvelope
from libp2p.identity.keys import Ed25519PrivateKey, KeyType, generate_key_pair, unmarshal_private_key, unmarshal_public_key
from libp2p.identity.multiformats import decode_cid, multibase_decode, multibase_encode, multibase_names
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, PeerRecord, consume_peer_record
from libp2p.multiaddr import Multiaddr
from tests.fuzz._contract import FUZZ, FUZZ_SLOW, HUGE_LENGTHS, near, outcome, peak_allocation, same, uvarint

_KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
_PEER = PeerId.from_public_key(_KEY.public_key)
_ADDRS = [
    "/ip4/127.0.0.1/tcp/4001",
    "/ip6/::1/udp/4001/quic-v1/webtransport",
    f"/dns4/example.com/tcp/443/wss/p2p/{_PEER}",
    "/unix/tmp%2Fsock",
    "/ip4/1.2.3.4/tcp/80/http/http-path/a%2Fb",
    "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
    "/ip6zone/eth0/ip6/fe80::1/tcp/1",
]
_addr_bytes = st.sampled_from([bytes(Multiaddr(a)) for a in _ADDRS])
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _check_addr(addr: Multiaddr) -> None:
    text = str(addr)
    addr.components()
    outcome(lambda: addr.peer_id)
    if not any(c.protocol.name == "http-path" and not c.raw.startswith(b"/") for c in addr.components()):
        assert Multiaddr(text) == addr, text


@FUZZ
@given(near(_addr_bytes))
def test_multiaddr_from_bytes(data: bytes) -> None:
    kind, spans = same(lambda t: t.multiaddr_scan(data))
    kind2, addr = outcome(Multiaddr.from_bytes, data)
    assert kind2 == kind
    if kind == "ok":
        assert bytes(addr) == data
        _check_addr(addr)
    else:
        assert spans is MultiaddrError


@FUZZ
@given(st.one_of(st.sampled_from(_ADDRS), st.text(max_size=80), st.sampled_from(_ADDRS).map(lambda a: a[:-3] + "%ff/")))
def test_multiaddr_text(text: str) -> None:
    kind, addr = outcome(Multiaddr, text)
    if kind == "ok":
        _check_addr(addr)


def test_multiaddr_huge_value_length() -> None:
    for huge in HUGE_LENGTHS:
        data = bytes(Multiaddr("/ip4/1.2.3.4")) + uvarint(53) + uvarint(huge) + b"a"
        assert same(lambda t: t.multiaddr_scan(data)) == ("err", MultiaddrError)


@FUZZ
@given(st.one_of(st.text(_B58, max_size=60), st.text(max_size=30)))
def test_base58_decode_twins(text: str) -> None:
    kind, raw = same(lambda t: t.base58btc_decode(text))
    if kind == "ok":
        assert same(lambda t: t.base58btc_encode(raw)) == ("ok", text)


@FUZZ
@given(st.binary(max_size=64))
def test_base58_encode_twins(data: bytes) -> None:
    kind, text = same(lambda t: t.base58btc_encode(data))
    assert same(lambda t: t.base58btc_decode(text)) == ("ok", data)


@FUZZ
@given(st.text(max_size=80), st.sampled_from(multibase_names()), st.binary(max_size=40))
def test_multibase_and_cid(text: str, name: str, data: bytes) -> None:
    outcome(multibase_decode, text)
    assert multibase_decode(multibase_encode(name, data)) == data
    for value in (text, data, name[:1] + text):
        kind, cid = outcome(decode_cid, value)
        if kind == "ok":
            assert decode_cid(bytes(cid)) == cid


def _check_peer(pid: PeerId) -> None:
    assert PeerId.from_string(str(pid)) == pid
    assert PeerId.from_string(pid.to_cid_string()) == pid
    kind, key = outcome(lambda: pid.public_key)
    if kind == "ok" and key is not None:
        assert pid.matches_public_key(key)


_peer_bytes = st.sampled_from([bytes(_PEER), bytes(PeerId.from_public_key(generate_key_pair(KeyType.ECDSA).public_key))])


@FUZZ
@given(near(_peer_bytes))
def test_peer_id_from_bytes(data: bytes) -> None:
    kind, pid = outcome(PeerId.from_bytes, data)
    if kind == "ok":
        _check_peer(pid)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.sampled_from([str(_PEER), _PEER.to_cid_string()]).map(lambda s: s[:-2] + "zz")))
def test_peer_id_from_string(text: str) -> None:
    kind, pid = outcome(PeerId.from_string, text)
    if kind == "ok":
        _check_peer(pid)


_KEYS = [generate_key_pair(kt) for kt in (KeyType.Ed25519, KeyType.Secp256k1, KeyType.ECDSA)]
_public_pbs = st.sampled_from([k.public_key.marshal() for k in _KEYS])
_private_pbs = st.sampled_from([k.marshal() for k in _KEYS])


@FUZZ
@given(near(_public_pbs), st.binary(max_size=80))
def test_unmarshal_public_key(data: bytes, sig: bytes) -> None:
    kind, key = outcome(unmarshal_public_key, data)
    if kind == "ok":
        assert key.marshal() == data  # only the canonical form decodes
        assert isinstance(key.verify(data, sig), bool)


@FUZZ
@given(near(_private_pbs))
def test_unmarshal_private_key(data: bytes) -> None:
    kind, key = outcome(unmarshal_private_key, data)
    if kind == "ok":
        assert key.marshal() == data
        assert key.public_key.verify(b"m", key.sign(b"m"))


def test_key_huge_data_length() -> None:
    for huge in HUGE_LENGTHS:
        data = b"\x08\x01\x12" + uvarint(huge) + bytes(32)
        assert outcome(unmarshal_public_key, data) == ("err", InvalidKeyError)
        assert peak_allocation(lambda: unmarshal_public_key(data)) < 1 << 16


_record = PeerRecord(_PEER, 7, [Multiaddr(a) for a in _ADDRS[:3]])
_envelope = _record.seal(_KEY).marshal()


@FUZZ
@given(near(st.just(_envelope)), st.booleans())
def test_envelope_and_peer_record(data: bytes, legacy: bool) -> None:
    kind, env = outcome(SignedEnvelope.open, data, PEER_RECORD_DOMAIN)
    if kind == "ok":
        assert SignedEnvelope.open(env.marshal(), PEER_RECORD_DOMAIN) == env
    outcome(lambda: consume_peer_record(data, legacy=legacy))


@FUZZ_SLOW
@given(near(st.just(_record.marshal())))
def test_peer_record_behind_a_good_signature(payload: bytes) -> None:
    sealed = SignedEnvelope.seal(_KEY, PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, payload).marshal()
    kind, result = outcome(consume_peer_record, sealed)
    if kind == "ok":
        _, record = result
        assert record.peer_id == _PEER
        assert PeerRecord.unmarshal(record.marshal()) == record
    outcome(PeerRecord.unmarshal, payload)


def test_envelope_over_the_limit_is_refused_unparsed() -> None:
    data = b"\x0a" + uvarint(MAX_ENVELOPE_SIZE) + bytes(MAX_ENVELOPE_SIZE)
    assert outcome(SignedEnvelope.open, data, PEER_RECORD_DOMAIN)[0] == "err"
