"""aiolibp2p ↔ go-libp2p v0.52 beyond ping: identify both ways and bulk concurrent streams.

go is the peer program ``interop/go`` (see its README), driven through ``tests/interop/go_peer.py``
and the shared flows of ``tests/interop/foreign.py``. TCP + Noise, over yamux and over mplex, in both
directions, with an Ed25519 and a secp256k1 identity on our side:

* Python dials a go listener: identify both ways (agent, protocols, listen addresses, observed
  addresses, public key; go's signed peer record verified here, ours verified by go: its
  ``identify`` event carries the record only when go-libp2p accepted it), 5 pings each way, and 16
  concurrent 4 MiB streams (8 over ``/echo/1.0.0``, 8 over go's ``/hash/1.0.0``) checked by sha256.
* A go dialer dials our listener: 5 pings and 16 concurrent 4 MiB streams to our hash or echo
  handler (checked by sha256 in go); go verified our signed record, we learned go's identify.
* identify/push each way (protocols added and removed on either side).
* go with a secp256k1 identity: its Noise payload and signed record verify here, both ways.

go-libp2p quirks met here (interop/go/README.md): its identify sends an empty ``protocolVersion``;
a go dialer has no listen address and so sends no signed peer record.

Skipped when Go is missing (failed under ``CI=true``). Every test is time-bounded and the go
processes are stopped by their own handles.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libp2p.host.host import Host
from libp2p.identity.keys import PrivateKey, generate_key_pair
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
from tests.interop.go_peer import GoPeer, require_go_peer, run_go_dialer_async

GO = Foreign(name="go", agent_prefix="go-libp2p/", dial=run_go_dialer_async)


@pytest.fixture(scope="session")
def go_binary() -> Path:
    return require_go_peer()


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


async def test_python_dials_go(go_binary: Path, host: Host, muxer: str) -> None:
    with GoPeer.listen(muxer=muxer, binary=go_binary) as go, failing_with_stderr(go):
        async with asyncio.timeout(TEST_TIMEOUT):
            out = await python_dials(host, go, muxer)
            go_listen = [strip_p2p(a) for a in go.multiaddrs]
            assert out.info.agent_version is not None and out.info.agent_version.startswith("go-libp2p/")
            assert out.info.protocol_version == ""  # go-libp2p sends an empty protocolVersion
            # go's signed peer record, verified here (certified_addrs is only set after that)
            assert out.info.signed_peer_record is not None
            assert out.info.certified_addrs is not None
            assert [str(a) for a in out.info.certified_addrs] == go_listen
            assert host.peerstore.signed_peer_record(out.peer_id) is not None
            # ours, verified by go: it reports the record only when go-libp2p accepted it, and then
            # stores its addresses as certified
            ours = [str(a) for a in host.addrs]
            ident = out.their_identify
            assert ident["signed_peer_record"] is not None, "go did not accept our signed peer record"
            assert ident["signed_peer_record"]["addrs"] == ours
            assert int(ident["signed_peer_record"]["seq"]) > 0
            assert ident["peer_store"]["has_peer_record"] is True
            assert ident["peer_store"]["addresses"] == [{"addr": a, "certified": True} for a in ours]


@pytest.mark.parametrize("stream_protocol", ["hash", "echo"])
async def test_go_dials_python(go_binary: Path, host: Host, served: Served, muxer: str,
                               stream_protocol: str) -> None:
    target = str(host.full_addrs()[0])
    async with asyncio.timeout(TEST_TIMEOUT):
        result = await foreign_dials(GO, host, muxer, stream_protocol=stream_protocol, binary=go_binary)
        go_id = check_dialer_result(result, host, muxer)
        check_served(served, go_id, HASH if stream_protocol == "hash" else ECHO)
        # go verified our signed peer record, and took its addresses as certified
        ours = [str(a) for a in host.addrs]
        assert result["signed_peer_record"] is not None, "go did not accept our signed peer record"
        assert result["signed_peer_record"]["addrs"] == ours
        assert result["peer_store"]["has_peer_record"] is True
        assert result["peer_store"]["addresses"] == [{"addr": a, "certified": True} for a in ours]

        # what we learned about go; a go dialer has no listen address, hence no signed record
        check_what_we_learned(host, go_id, "go-libp2p/", target)
        assert host.peerstore.protocol_version(go_id) == ""
        assert host.peerstore.signed_peer_record(go_id) is None
        await wait_disconnected(host, go_id)


async def test_identify_push_both_ways(go_binary: Path, host: Host, muxer: str) -> None:
    """We push protocol changes to go (with our signed record, accepted by go); go-libp2p pushes
    its own changes to us by itself (with its record, verified here)."""
    with GoPeer.listen(muxer=muxer, binary=go_binary) as go, failing_with_stderr(go):
        async with asyncio.timeout(TEST_TIMEOUT):
            go_id, push = await identify_push_both_ways(host, go)
            assert push["signed_peer_record"] is not None
            assert push["signed_peer_record"]["addrs"] == [str(a) for a in host.addrs]
            assert host.peerstore.signed_peer_record(go_id) is not None


async def test_go_secp256k1_identity(go_binary: Path, host: Host, muxer: str) -> None:
    """go with a secp256k1 key: its Noise payload and signed peer record verify here, both ways."""
    async with asyncio.timeout(TEST_TIMEOUT):
        with GoPeer.listen(muxer=muxer, key_type="secp256k1", binary=go_binary) as go, failing_with_stderr(go):
            go_id = await host.connect(go.multiaddr)
            info = await host.services["identify"].identify(go_id)
            assert info.public_key is not None and info.public_key.key_type.name == "Secp256k1"
            assert go_id.matches_public_key(info.public_key)
            assert info.certified_addrs is not None
            assert [str(a) for a in info.certified_addrs] == [strip_p2p(a) for a in go.multiaddrs]
            ident = await go.await_event("identify", peer=str(host.peer_id), timeout=15)
            assert ident["signed_peer_record"] is not None
            assert len(await host.services["ping"].ping(go_id, 3)) == 3
            await checked_stream(host, go_id, HASH, 300_000)
        result = await foreign_dials(GO, host, muxer, stream_protocol="hash", n_streams=2, stream_bytes=300_000,
                                     key_type="secp256k1", binary=go_binary)
        check_dialer_result(result, host, muxer)
        assert result["signed_peer_record"] is not None
