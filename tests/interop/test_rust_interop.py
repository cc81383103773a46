"""aiolibp2p ↔ rust-libp2p 0.57.1 beyond ping: identify both ways and bulk concurrent streams.

rust is the peer program ``interop/rust`` (see its README), driven through
``tests/interop/rust_peer.py`` and the shared flows of ``tests/interop/foreign.py``. TCP + Noise,
over yamux and over mplex, in both directions, with an Ed25519 and a secp256k1 identity on our side:

* Python dials a rust listener: identify both ways (agent, protocols, listen addresses, observed
  addresses, public key), 5 pings each way, and 16 concurrent 4 MiB streams (8 over
  ``/echo/1.0.0``, 8 over rust's ``/hash/1.0.0``) checked by sha256.
* A rust dialer dials our listener: 5 pings and 16 concurrent 4 MiB streams to our hash or echo
  handler (checked by sha256 in rust); we learned rust's identify.
* Signed peer records: rust-libp2p's identify signs records in RFC 0003's legacy format
  (domain ``libp2p-routing-state``, payload type ``/libp2p/routing-state-record``; libp2p-core 0.44
  ``src/peer_record.rs`` ``PeerRecord::new``, called by libp2p-identify 0.48 ``Handler::build_info``)
  and only accepts that format (``PeerRecord::from_signed_envelope`` in its ``protocol.rs``); upstream:
  libp2p/rust-libp2p#6204, whose fix (#6230) added ``PeerRecord::*_interop`` but left identify as is. So:
  rust drops our standard record (``signed_peer_record: null``, the identify itself is kept), and we
  accept rust's legacy record (verified with the legacy domain, its peer id checked against the
  signer) when the rust peer runs with ``--signed-peer-record`` (off by default, as in rust-libp2p).
* identify/push each way (protocols added and removed on either side).
* rust with a secp256k1 identity: its Noise payload and legacy record verify here, both ways.

Skipped when cargo is missing and nothing is cached (failed under ``CI=true``). Every test is
time-bounded and the rust processes are stopped by their own handles.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libp2p.errors import EnvelopeSignatureError
from libp2p.host.host import Host
from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_record import (
    LEGACY_PEER_RECORD_DOMAIN,
    LEGACY_PEER_RECORD_PAYLOAD_TYPE,
    PeerRecord,
    consume_peer_record,
)
from tests.interop.foreign import (
    ECHO,
    HASH,
    KEY_TYPES,
    MUXER_IDS,
    TEST_TIMEOUT,
    Foreign,
    Served,
    check_dialer_result,
    check_served,
    check_what_we_learned,
    checked_stream,
    failing_with_stderr,
    foreign_dials,
    identify_push_both_ways,
    our_host,
    python_dials,
    strip_p2p,
    wait_disconnected,
)
from tests.interop.rust_peer import RustPeer, require_rust_peer, run_rust_dialer_async

RUST = Foreign(name="rust", agent_prefix="rust-libp2p/", dial=run_rust_dialer_async)
SIGNED_RECORD = ["--signed-peer-record"]


@pytest.fixture(scope="session")
def rust_binary() -> Path:
    return require_rust_peer()


@pytest.fixture(params=list(MUXER_IDS))
def muxer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(KEY_TYPES))
def key(request: pytest.FixtureRequest) -> PrivateKey:
    return generate_key_pair(KEY_TYPES[request.param])


@pytest.fixture
def served() -> Served:
    return []


@pytest.fixture
async def host(key: PrivateKey, muxer: str, served: Served) -> AsyncIterator[Host]:
    async with our_host(key, muxer, served) as h:
        yield h


def _check_legacy_record(data: bytes | None, signer: str, addrs: list[str]) -> PeerRecord:
    """``data`` is rust's envelope in the legacy format, signed by ``signer`` for ``addrs``."""
    assert data is not None
    envelope, record = consume_peer_record(data, legacy=True)
    assert envelope.payload_type == LEGACY_PEER_RECORD_PAYLOAD_TYPE
    assert envelope.verify(LEGACY_PEER_RECORD_DOMAIN)
    assert str(record.peer_id) == signer
    assert [str(a) for a in record.addrs] == addrs
    assert record.seq > 0
    # it is rust's legacy format indeed: a standard-only consumer refuses it
    with pytest.raises(EnvelopeSignatureError):
        consume_peer_record(data)
    return record


async def test_python_dials_rust(rust_binary: Path, host: Host, muxer: str) -> None:
    with RustPeer.listen(muxer=muxer, binary=rust_binary) as rust, failing_with_stderr(rust):
        async with asyncio.timeout(TEST_TIMEOUT):
            out = await python_dials(host, rust, muxer)
            assert out.info.agent_version is not None and out.info.agent_version.startswith("rust-libp2p/")
            assert out.info.protocol_version == "ipfs/0.1.0"
            # rust sends no signed peer record unless told to (identify::Config::new)
            assert out.info.signed_peer_record is None
            assert out.info.certified_addrs is None
            assert host.peerstore.signed_peer_record(out.peer_id) is None
            # rust-libp2p drops our standard record (it only accepts its legacy format) but keeps
            # the rest of the identify; it then uses our plain listen addresses
            ident = out.their_identify
            assert ident["signed_peer_record"] is None
            assert ident["peer_store"]["has_peer_record"] is False
            assert ident["peer_store"]["addresses"] == [{"addr": str(a), "certified": False} for a in host.addrs]


@pytest.mark.parametrize("stream_protocol", ["hash", "echo"])
async def test_rust_dials_python(rust_binary: Path, host: Host, served: Served, muxer: str,
                                 stream_protocol: str) -> None:
    target = str(host.full_addrs()[0])
    async with asyncio.timeout(TEST_TIMEOUT):
        result = await foreign_dials(RUST, host, muxer, stream_protocol=stream_protocol, binary=rust_binary)
        rust_id = check_dialer_result(result, host, muxer)
        check_served(served, rust_id, HASH if stream_protocol == "hash" else ECHO)
        # rust drops our standard record (see the module docstring)
        assert result["signed_peer_record"] is None
        assert result["peer_store"]["has_peer_record"] is False

        check_what_we_learned(host, rust_id, "rust-libp2p/", target)
        assert host.peerstore.protocol_version(rust_id) == "ipfs/0.1.0"
        assert host.peerstore.signed_peer_record(rust_id) is None
        await wait_disconnected(host, rust_id)


async def test_rust_legacy_signed_peer_record_accepted(rust_binary: Path, host: Host, muxer: str) -> None:
    """``--signed-peer-record``: rust sends its legacy-format record; we verify and use it, both when
    we dial rust (the record's addresses become certified) and when rust dials us (a rust dialer
    signs a record with no addresses)."""
    async with asyncio.timeout(TEST_TIMEOUT):
        with RustPeer.listen(muxer=muxer, extra_args=SIGNED_RECORD, binary=rust_binary) as rust, \
                failing_with_stderr(rust):
            rust_listen = [strip_p2p(a) for a in rust.multiaddrs]
            rust_id = await host.connect(rust.multiaddr)
            info = await host.services["identify"].identify(rust_id)
            _check_legacy_record(info.signed_peer_record, rust.peer_id, rust_listen)
            assert info.certified_addrs is not None
            assert [str(a) for a in info.certified_addrs] == rust_listen
            assert host.peerstore.signed_peer_record(rust_id) == info.signed_peer_record
            assert {str(a) for a in host.peerstore.addrs(rust_id)} == set(rust_listen)
            # rust still does not take ours, and the connection carries on
            ident = await rust.await_event("identify", peer=str(host.peer_id), timeout=15)
            assert ident["signed_peer_record"] is None
            assert len(await host.services["ping"].ping(rust_id, 3)) == 3
            await checked_stream(host, rust_id, HASH, 300_000)

        result = await foreign_dials(RUST, host, muxer, stream_protocol="hash", n_streams=2, stream_bytes=300_000,
                                     extra_args=SIGNED_RECORD, binary=rust_binary)
        dialer = check_dialer_result(result, host, muxer)
        stored = host.peerstore.signed_peer_record(dialer)
        _check_legacy_record(stored, str(dialer), [])


async def test_identify_push_both_ways(rust_binary: Path, host: Host, muxer: str) -> None:
    """We push protocol changes to rust (rust drops our standard record but takes the push); rust
    pushes its changes to us, with its legacy record (``--signed-peer-record``), verified here."""
    with RustPeer.listen(muxer=muxer, extra_args=SIGNED_RECORD, binary=rust_binary) as rust, \
            failing_with_stderr(rust):
        async with asyncio.timeout(TEST_TIMEOUT):
            rust_id, push = await identify_push_both_ways(host, rust)
            assert push["signed_peer_record"] is None
            _check_legacy_record(host.peerstore.signed_peer_record(rust_id), rust.peer_id,
                                 [strip_p2p(a) for a in rust.multiaddrs])


async def test_rust_secp256k1_identity(rust_binary: Path, host: Host, muxer: str) -> None:
    """rust with a secp256k1 key: its Noise payload and legacy signed record verify here, both ways."""
    async with asyncio.timeout(TEST_TIMEOUT):
        with RustPeer.listen(muxer=muxer, key_type="secp256k1", extra_args=SIGNED_RECORD,
                             binary=rust_binary) as rust, failing_with_stderr(rust):
            rust_id = await host.connect(rust.multiaddr)
            info = await host.services["identify"].identify(rust_id)
            assert info.public_key is not None and info.public_key.key_type.name == "Secp256k1"
            assert rust_id.matches_public_key(info.public_key)
            _check_legacy_record(info.signed_peer_record, rust.peer_id, [strip_p2p(a) for a in rust.multiaddrs])
            assert len(await host.services["ping"].ping(rust_id, 3)) == 3
            await checked_stream(host, rust_id, ECHO, 300_000)
        result = await foreign_dials(RUST, host, muxer, stream_protocol="echo", n_streams=2, stream_bytes=300_000,
                                     key_type="secp256k1", extra_args=SIGNED_RECORD, binary=rust_binary)
        dialer = check_dialer_result(result, host, muxer)
        _check_legacy_record(host.peerstore.signed_peer_record(dialer), str(dialer), [])
