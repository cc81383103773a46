"""Multiaddr value type: vectors, text forms, encapsulation, lookups, immutability, fuzzing."""

from __future__ import annotations

import copy
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p.errors import DecodeError, InvalidPeerIdError, MultiaddrError, MultiaddrLookupError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import (
    MAX_MULTIADDR_LEN,
    P_IP4,
    P_P2P_CIRCUIT,
    P_TCP,
    P_UDP,
    PROTOCOLS,
    Multiaddr,
    protocol_with_code,
    protocol_with_name,
)
from tests.conftest import VECTORS, load_vector

_DATA = load_vector("derived/multiaddr.json")
VALID = _DATA["valid"]
INVALID = _DATA["invalid"]

QM = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
ED = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
CID_QM = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"


# --- vectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=lambda c: c["input"][:60])
def test_valid_vectors(case: dict[str, object]) -> None:
    ma = Multiaddr(str(case["input"]))
    raw = bytes.fromhex(str(case["bytes_hex"]))
    assert bytes(ma) == raw
    assert str(ma) == case["canonical_string"]
    from_raw = Multiaddr.from_bytes(raw)
    assert from_raw == ma and hash(from_raw) == hash(ma)
    assert str(from_raw) == case["canonical_string"]
    assert Multiaddr(str(case["canonical_string"])) == ma
    assert (str(ma) == case["input"]) == case["roundtrip_equal"]


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["input"][:60])
def test_invalid_vectors(case: dict[str, object]) -> None:
    with pytest.raises(MultiaddrError):
        Multiaddr(str(case["input"]))


def _feature_scenarios() -> list[tuple[str, str, list[dict[str, str]]]]:
    text = (Path(VECTORS) / "official" / "multiaddr.feature").read_text(encoding="utf-8")
    out = []
    for block in text.split("Scenario:")[1:]:
        given_ = re.search(r"Given the multiaddr (\S+)", block)
        assert given_
        rows = [line.strip() for line in block.splitlines() if line.strip().startswith("|")]
        header = [h.strip() for h in rows[0].strip("|").split("|")]
        comps = [
            dict(zip(header, (c.strip() for c in r.strip("|").split("|")), strict=True)) for r in rows[1:]
        ]
        packed = re.search(r"packed form is (0x[0-9a-f]+)", block)
        string = re.search(r"string form is (\S+)", block)
        out.append((given_.group(1), (packed or string).group(1), comps))  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize(("given_", "expected", "components"), _feature_scenarios())
def test_feature_file(given_: str, expected: str, components: list[dict[str, str]]) -> None:
    if given_.startswith("0x"):
        ma = Multiaddr.from_bytes(bytes.fromhex(given_[2:]))
        assert str(ma) == expected
        assert len(str(ma)) == 23
    else:
        ma = Multiaddr(given_)
        assert "0x" + bytes(ma).hex() == expected
        assert len(bytes(ma)) == 8
    parts = ma.split()
    comps = ma.components()
    assert len(parts) == len(components) == len(comps)
    for part, comp, row in zip(parts, comps, components, strict=True):
        assert str(part) == row["string"] and len(str(part)) == int(row["stringSize"])
        assert "0x" + bytes(part).hex() == row["packed"] and len(bytes(part)) == int(row["packedSize"])
        assert comp.value == row["value"]
        assert comp.protocol.name == row["protocol"] and comp.protocol.code == int(row["codec"])
        assert "0x" + comp.protocol.vcode.hex() == row["uvarint"]
        assert "0x" + comp.raw.hex() == row["rawValue"] and len(comp.raw) == int(row["valueSize"])


# --- text forms ---------------------------------------------------------------------------------


def test_ipfs_alias_and_cid_forms() -> None:
    canonical = f"/ip4/1.2.3.4/tcp/4001/p2p/{QM}"
    assert str(Multiaddr(f"/ip4/1.2.3.4/tcp/4001/ipfs/{QM}")) == canonical
    assert str(Multiaddr(f"/ip4/1.2.3.4/tcp/4001/p2p/{CID_QM}")) == canonical
    pid = PeerId.from_string(ED)
    for base in ("base32", "base36", "base58btc", "base64url"):
        assert Multiaddr(f"/p2p/{pid.to_cid_string(base)}") == Multiaddr(f"/p2p/{ED}")
    with pytest.raises(MultiaddrError):  # a CID that is not libp2p-key
        Multiaddr("/p2p/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")
    with pytest.raises(MultiaddrError):
        Multiaddr("/p2p/")
    with pytest.raises(MultiaddrError):
        Multiaddr("/p2p/Qm")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("/ip6/::ffff:1.2.3.4/tcp/1", "/ip6/::ffff:1.2.3.4/tcp/1"),
        ("/ip6/::FFFF:0102:0304/tcp/1", "/ip6/::ffff:1.2.3.4/tcp/1"),
        ("/ip6/2001:DB8:0:0:0:0:0:1/udp/1", "/ip6/2001:db8::1/udp/1"),
        ("/ip6/2001:db8:0:0:1:0:0:1/udp/1", "/ip6/2001:db8::1:0:0:1/udp/1"),
        ("/ip6/0:0:0:0:0:0:0:0/udp/1", "/ip6/::/udp/1"),
        ("/ip6/1:0:2:3:4:5:6:7/tcp/1", "/ip6/1:0:2:3:4:5:6:7/tcp/1"),
        ("/ip6/64:ff9b::192.0.2.33/tcp/1", "/ip6/64:ff9b::c000:221/tcp/1"),
        ("/ip4/1.2.3.4/tcp/0080", "/ip4/1.2.3.4/tcp/80"),
        ("/ip4/1.2.3.4/tcp/80/", "/ip4/1.2.3.4/tcp/80"),
        ("/", "/"),
        ("/ip4/1.2.3.4/udp/65535/quic-v1", "/ip4/1.2.3.4/udp/65535/quic-v1"),
        ("/dccp/1/sctp/2", "/dccp/1/sctp/2"),
        ("/ip6zone/eth0/ip6/fe80::1", "/ip6zone/eth0/ip6/fe80::1"),
        ("/dns/b\u00fccher.example/tcp/1", "/dns/b\u00fccher.example/tcp/1"),
        ("/memory/abc", "/memory/abc"),
        ("/ip4/127.0.0.1/tcp/1/tls/sni/example.com/http/http-path/a%20b", None),
    ],
)
def test_canonical_strings(text: str, canonical: str | None) -> None:
    ma = Multiaddr(text)
    assert str(ma) == (canonical or text)
    assert Multiaddr(str(ma)) == ma


def test_unix_forms() -> None:
    # js form (the vectors): one percent-encoded segment, printed the same way.
    js = Multiaddr("/unix/%2Ftmp%2Fp2p.sock")
    assert js.value_for_protocol("unix") == "%2Ftmp%2Fp2p.sock"
    assert js.components()[0].raw == b"/tmp/p2p.sock"
    # go form: the rest of the string is the path; same bytes, printed in the js form.
    go = Multiaddr("/unix/tmp/p2p.sock")
    assert go == js
    assert str(go) == "/unix/%2Ftmp%2Fp2p.sock"
    # js form followed by more components.
    tail = Multiaddr(f"/unix/%2Ftmp%2Fx.sock/p2p/{ED}")
    assert tail.protocols()[-1].name == "p2p" and tail.peer_id == PeerId.from_string(ED)
    # go form swallows everything after /unix/.
    assert Multiaddr("/unix/a/b/p2p/x").components()[0].raw == b"/a/b/p2p/x"
    # relative single segment, as js, also when followed by more components.
    assert Multiaddr("/unix/x.sock").components()[0].raw == b"x.sock"
    rel = Multiaddr.from_bytes(b"\x90\x03\x06x.sock" + bytes(Multiaddr("/tcp/1")))
    assert str(rel) == "/unix/x.sock/tcp/1" and Multiaddr(str(rel)) == rel
    with pytest.raises(MultiaddrError):
        Multiaddr("/unix/%zz")
    with pytest.raises(MultiaddrError):
        Multiaddr("/unix")


def test_http_path() -> None:
    ma = Multiaddr("/dns/example.com/tls/http/http-path/api%2Fv0%2Flogin")
    assert ma.components()[-1].raw == b"/api/v0/login"
    assert ma.value_for_protocol("http-path") == "api%2Fv0%2Flogin"
    with pytest.raises(MultiaddrError):
        Multiaddr("/http-path/%2")


def test_certhash_any_multibase_prints_base64url() -> None:
    b64 = "uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g"
    multihash = bytes.fromhex("1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2")
    for text in (b64, "f" + multihash.hex(), "z" + _b58(multihash)):
        ma = Multiaddr(f"/certhash/{text}")
        assert ma.components()[0].raw == multihash
        assert str(ma) == f"/certhash/{b64}"
    with pytest.raises(MultiaddrError):  # decodes, but not a multihash
        Multiaddr("/certhash/f1220")


def _b58(data: bytes) -> str:
    from libp2p.identity.multiformats import base58btc_encode

    return base58btc_encode(data)


def test_onion_and_garlic() -> None:
    onion = Multiaddr("/onion/timaq4ygg2iegci7:1234")
    assert str(onion) == "/onion/timaq4ygg2iegci7:1234" and len(bytes(onion)) == 2 + 12
    onion3 = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234"
    assert str(Multiaddr(onion3)) == onion3
    for bad in (
        "/onion/timaq4ygg2iegci7:0",
        "/onion/timaq4ygg2iegci7",
        "/onion/timaq4ygg2iegci:80",
        "/onion/timaq4ygg2iegci7:65536",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:0",
    ):
        with pytest.raises(MultiaddrError):
            Multiaddr(bad)
    garlic32 = "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzuq"
    assert str(Multiaddr(garlic32)) == garlic32
    raw64 = bytes(range(256)) + bytes(200)
    import base64

    g64 = "/garlic64/" + base64.b64encode(raw64, altchars=b"-~").decode()
    assert str(Multiaddr(g64)) == g64
    with pytest.raises(MultiaddrError):
        Multiaddr("/garlic64/AAAA")
    with pytest.raises(MultiaddrError):
        Multiaddr("/garlic32/AAAA")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ip4/1.2.3.4",
        "/ip4/1.2.3.4/tcp/65536",
        "/ip4/1.2.3.4/tcp/+1",
        "/ip4/1.2.3.4/tcp/1_0",
        "/ip4/1.2.3.4/tcp/ 1",
        "/ip4/1.2.3.4/tcp/\u0661",  # Arabic-Indic digit one
        "/ip4/1.2.3.4/tcp/100000",
        "/ip4/1.2.3",
        "/ip4/01.2.3.4",
        "/ip4/1.2.3.4.5",
        "/ip4//tcp/1",
        "/ip4/1.2.3.4/garbage",
        "/ip4/1.2.3.4/tcp/1/x",
        "/ip6/fe80::1%eth0",
        "/ip6/1.2.3.4",
        "/ip6/::1/ipcidr/256",
        "/quic-v1/1",
        "/tcp",
        "/dns4//tcp/1",
        "/ip6zone//ip6/::1",
        "//ip4/1.2.3.4",
        "/ipfs",
        "/p2p/notapeerid",
        "/certhash/",
        "/memory/",
        "/dns/\ud800",
        "/unix/\ud800",
        "/unix/a/\ud800/b",
        "/" + "dns/" + "a" * 5000,
        "/dns/" + "a" * 1100,
    ],
)
def test_invalid_strings(text: str) -> None:
    with pytest.raises(MultiaddrError):
        Multiaddr(text)


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        Multiaddr(1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Multiaddr(None)  # type: ignore[arg-type]


# --- API ----------------------------------------------------------------------------------------


def test_constructors_and_equality() -> None:
    text = f"/ip4/1.2.3.4/tcp/4001/p2p/{ED}"
    ma = Multiaddr(text)
    assert Multiaddr(ma) is ma
    assert Multiaddr(bytes(ma)) == ma
    assert Multiaddr(bytearray(bytes(ma))) == ma
    assert Multiaddr.from_bytes(memoryview(bytes(ma))) == ma
    assert type(Multiaddr.from_bytes(bytearray(bytes(ma))).to_bytes()) is bytes
    assert ma != Multiaddr("/ip4/1.2.3.4/tcp/4001")
    assert ma != text  # no comparison with strings: text forms are ambiguous
    assert repr(ma) == f"Multiaddr({text!r})"
    assert len({ma, Multiaddr(text), Multiaddr(bytes(ma))}) == 1
    assert list(ma) == [("ip4", "1.2.3.4"), ("tcp", "4001"), ("p2p", ED)]
    assert list(Multiaddr("/ip4/1.2.3.4/udp/1/quic-v1")) == [
        ("ip4", "1.2.3.4"),
        ("udp", "1"),
        ("quic-v1", None),
    ]
    assert [p.name for p in ma.protocols()] == ["ip4", "tcp", "p2p"]
    assert [str(p) for p in ma.split()] == ["/ip4/1.2.3.4", "/tcp/4001", f"/p2p/{ED}"]
    assert Multiaddr("/") == Multiaddr(b"") and str(Multiaddr(b"")) == "/"
    assert list(Multiaddr("/")) == [] and Multiaddr("/").split() == []


def test_immutability_and_copies() -> None:
    ma = Multiaddr("/ip4/1.2.3.4/tcp/1")
    with pytest.raises(AttributeError):
        ma._b = b""
    with pytest.raises(AttributeError):
        ma.anything = 1
    with pytest.raises(AttributeError):
        del ma._b
    proto = protocol_with_name("tcp")
    with pytest.raises(AttributeError):
        proto.code = 7
    assert copy.copy(ma) is ma and copy.deepcopy(ma) is ma
    assert pickle.loads(pickle.dumps(ma)) == ma
    assert pickle.loads(pickle.dumps(proto)) is proto
    str(ma)
    assert pickle.loads(pickle.dumps(ma)) == ma  # after the text is cached too


def test_encapsulate_decapsulate() -> None:
    base = Multiaddr("/ip4/1.2.3.4/tcp/4001")
    full = base.encapsulate(f"/p2p/{ED}")
    assert str(full) == f"/ip4/1.2.3.4/tcp/4001/p2p/{ED}"
    assert full.encapsulate(Multiaddr("/p2p-circuit")) == Multiaddr(f"{full}/p2p-circuit")
    assert base.encapsulate(b"\xcd\x03") == Multiaddr("/ip4/1.2.3.4/tcp/4001/quic-v1")
    assert full.decapsulate(f"/p2p/{ED}") == base
    assert full.decapsulate("/tcp/4001") == Multiaddr("/ip4/1.2.3.4")
    assert full.decapsulate("/ip4/1.2.3.4") == Multiaddr("/")
    assert full.decapsulate("/tcp/4002") is full  # absent: unchanged, as go
    assert full.decapsulate("/") is full
    # The last occurrence is removed, with everything after it.
    relay = Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit/p2p/{ED}/p2p-circuit")
    assert relay.decapsulate("/p2p-circuit") == Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit/p2p/{ED}")
    assert relay.decapsulate_code(P_P2P_CIRCUIT) == Multiaddr(
        f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit/p2p/{ED}"
    )
    assert relay.decapsulate_code("p2p") == Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit")
    assert relay.decapsulate_code(P_UDP) is relay
    # Whole components only: /tcp/1 does not match inside /tcp/10.
    assert Multiaddr("/ip4/1.2.3.4/tcp/10").decapsulate("/tcp/1") == Multiaddr("/ip4/1.2.3.4/tcp/10")
    with pytest.raises(MultiaddrError):  # over the size cap
        Multiaddr("/dns/" + "a" * 600).encapsulate("/dns/" + "b" * 600)


def test_value_for_protocol_and_lookups() -> None:
    ma = Multiaddr(f"/ip4/1.2.3.4/tcp/4001/tls/p2p/{ED}/p2p-circuit/p2p/{QM}")
    assert ma.value_for_protocol(P_IP4) == "1.2.3.4"
    assert ma.value_for_protocol("tcp") == "4001"
    assert ma.value_for_protocol(protocol_with_code(P_TCP)) == "4001"
    assert ma.value_for_protocol("p2p") == ED  # the first occurrence, as go
    assert ma.value_for_protocol("ipfs") == ED
    assert ma.value_for_protocol("tls") == ""  # present, takes no value
    with pytest.raises(MultiaddrLookupError):
        ma.value_for_protocol("udp")
    with pytest.raises(MultiaddrLookupError):
        ma.value_for_protocol("nope")
    with pytest.raises(MultiaddrLookupError):
        ma.value_for_protocol(99999)
    with pytest.raises(LookupError):  # also a LookupError and a MultiaddrError
        ma.value_for_protocol("udp")
    assert ma.has_protocol("tls") and ma.has_protocol(P_TCP) and not ma.has_protocol("udp")
    assert protocol_with_name("ipfs") is protocol_with_name("p2p") is protocol_with_code(421)
    assert protocol_with_name("tcp").size == 16 and protocol_with_name("p2p").size == -1
    assert protocol_with_name("quic-v1").size == 0
    assert len({p.code for p in PROTOCOLS}) == len(PROTOCOLS)


def test_protocol_table_matches_csv() -> None:
    rows = (
        (Path(VECTORS) / "official" / "multiaddr-protocols.csv").read_text(encoding="utf-8").splitlines()[1:]
    )
    for row in rows:
        code, size, name = (c.strip() for c in row.split(",")[:3])
        proto = protocol_with_name(name)
        assert proto.code == int(code)
        assert proto.size == (-1 if size == "V" else int(size))


def test_peer_id() -> None:
    assert Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{ED}").peer_id == PeerId.from_string(ED)
    circuit = Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit/p2p/{ED}")
    assert circuit.peer_id == PeerId.from_string(ED)
    assert Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{QM}/p2p-circuit").peer_id is None  # go: must end in /p2p
    assert Multiaddr("/ip4/1.2.3.4/tcp/1").peer_id is None
    assert Multiaddr("/").peer_id is None
    # A well-formed multihash that is no peer ID (sha1) is accepted, as go, but has no PeerId.
    odd = Multiaddr.from_bytes(b"\xa5\x03\x16\x11\x14" + bytes(20))
    assert str(odd).startswith("/p2p/")
    assert Multiaddr(str(odd)) == odd
    with pytest.raises(InvalidPeerIdError):
        _ = odd.peer_id


# --- properties and fuzzing -------------------------------------------------------------------

_port = st.integers(0, 65535).map(str)
_ip4 = st.ip_addresses(v=4).map(str)
_ip6 = st.ip_addresses(v=6).map(str)
_host = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
_segment = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12)
_component = st.one_of(
    st.tuples(st.sampled_from(["ip4"]), _ip4),
    st.tuples(st.sampled_from(["ip6"]), _ip6),
    st.tuples(st.sampled_from(["tcp", "udp", "dccp", "sctp"]), _port),
    st.tuples(st.sampled_from(["dns", "dns4", "dns6", "dnsaddr", "sni"]), _host),
    st.tuples(st.sampled_from(["ipcidr"]), st.integers(0, 255).map(str)),
    st.tuples(
        st.sampled_from(["quic-v1", "ws", "wss", "tls", "noise", "p2p-circuit", "webrtc", "http"]), st.none()
    ),
    st.tuples(st.sampled_from(["p2p"]), st.sampled_from([QM, ED, CID_QM])),
    st.tuples(st.sampled_from(["ip6zone", "memory"]), _segment),
)


@settings(max_examples=300)
@given(st.lists(_component, max_size=6))
def test_text_round_trip(components: list[tuple[str, str | None]]) -> None:
    text = "".join(f"/{n}" + (f"/{v}" if v is not None else "") for n, v in components) or "/"
    ma = Multiaddr(text)
    again = Multiaddr(str(ma))
    assert again == ma and bytes(again) == bytes(ma)
    assert str(again) == str(ma)
    assert Multiaddr.from_bytes(bytes(ma)) == ma
    assert [n for n, _ in ma] == [("p2p" if n == "p2p" else n) for n, _ in components]


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=40))
def test_unix_and_http_path_round_trip(path: bytes) -> None:
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return
    for code in (b"\x90\x03", b"\xe1\x03"):
        raw = code + bytes((len(path),)) + path
        ma = Multiaddr.from_bytes(raw)
        if code == b"\xe1\x03" and (not path.startswith(b"/") or path == b"/"):
            continue  # the js text form always adds the leading "/" (and cannot be empty)
        assert bytes(Multiaddr(str(ma))) == raw


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes_only_decode_errors(data: bytes) -> None:
    try:
        ma = Multiaddr.from_bytes(data)
    except DecodeError:
        return
    # Whatever is accepted prints and parses back to the same bytes (http-path's js text form
    # cannot say "no leading slash").
    if not ma.has_protocol("http-path"):
        assert Multiaddr(str(ma)) == ma


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_random_text_only_decode_errors(text: str) -> None:
    try:
        Multiaddr(text)
    except DecodeError:
        pass


def test_every_truncation_only_decode_errors() -> None:
    for case in VALID:
        raw = bytes.fromhex(case["bytes_hex"])
        for cut in range(len(raw)):
            try:
                Multiaddr.from_bytes(raw[:cut])
            except MultiaddrError:
                pass
        text = case["canonical_string"]
        for cut in range(len(text)):
            try:
                Multiaddr(text[:cut])
            except MultiaddrError:
                pass


def test_oversized_lengths() -> None:
    for prefix in (b"\x35", b"\xa5\x03", b"\x90\x03", b"\xd2\x03"):
        for length in (
            b"\xff\x01",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
            b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
        ):
            with pytest.raises(MultiaddrError):
                Multiaddr.from_bytes(prefix + length + b"abc")
    with pytest.raises(MultiaddrError):
        Multiaddr.from_bytes(b"\x04\x01\x02\x03\x04" * ((MAX_MULTIADDR_LEN // 5) + 1))
    assert len(Multiaddr.from_bytes(b"\x04\x01\x02\x03\x04" * (MAX_MULTIADDR_LEN // 5)).split()) == 204


_utf8_no_slash = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=10)
_raw_component = st.one_of(
    st.binary(min_size=4, max_size=4).map(lambda v: b"\x04" + v),
    st.binary(min_size=16, max_size=16).map(lambda v: b"\x29" + v),
    st.binary(min_size=2, max_size=2).map(lambda v: b"\x06" + v),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).map(
        lambda v: b"\x90\x03" + bytes((len(v.encode()),)) + v.encode()
    ),
    _utf8_no_slash.map(lambda v: b"\x35" + bytes((len(v.encode()),)) + v.encode()),
    _utf8_no_slash.map(lambda v: b"\x89\x06" + bytes((len(v.encode()),)) + v.encode()),
    _utf8_no_slash.map(lambda v: b"\x2a" + bytes((len(v.encode()),)) + v.encode()),
    st.binary(max_size=40).map(lambda d: b"\xd2\x03" + bytes((len(d) + 2, 0x12, len(d))) + d),
    st.binary(max_size=40).map(lambda d: b"\xa5\x03" + bytes((len(d) + 2, 0x00, len(d))) + d),
    st.sampled_from([b"\xcd\x03", b"\xa2\x02", b"\xdd\x03", b"\xc0\x03"]),
)


@settings(max_examples=400)
@given(st.lists(_raw_component, max_size=6))
def test_bytes_round_trip(parts: list[bytes]) -> None:
    raw = b"".join(parts)
    ma = Multiaddr.from_bytes(raw)
    assert len(ma.split()) == len(parts)
    assert [bytes(p) for p in ma.split()] == parts
    assert bytes(Multiaddr(str(ma))) == raw
