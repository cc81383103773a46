"""identify accepts rust-libp2p's legacy signed peer records, verified, and nothing unverified.

rust-libp2p 0.57 identify signs its record with domain ``libp2p-routing-state`` and payload type
``/libp2p/routing-state-record`` (see ``libp2p/identity/peer_record.py``). Here one of our hosts
is made to send such records and the other must accept a genuine one exactly like a standard
record, and drop (but keep the rest of the identify) a forged one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from libp2p.host.host import Host
from libp2p.node import new_host
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_record import (
    LEGACY_PEER_RECORD_DOMAIN,
    LEGACY_PEER_RECORD_PAYLOAD_TYPE,
    PEER_RECORD_DOMAIN,
    PeerRecord,
)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def _legacy_record(host: Host, key: PrivateKey | None = None, domain: str = LEGACY_PEER_RECORD_DOMAIN) -> bytes:
    record = PeerRecord.new(host.peer_id, host.addrs)
    signer = key if key is not None else host.key
    return SignedEnvelope.seal(signer, domain, LEGACY_PEER_RECORD_PAYLOAD_TYPE, record.marshal()).marshal()


async def test_genuine_legacy_record_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        legacy = _legacy_record(a)
        monkeypatch.setattr(a.services["identify"], "_signed_record", lambda: legacy)
        a.services["identify"]._encoded = None  # the answer made at start: made again with the patched record
        await b.connect(a.full_addrs()[0])
        info = await b.services["identify"].identify(a.peer_id)
        assert info.signed_peer_record == legacy
        assert info.certified_addrs == a.addrs
        assert b.peerstore.signed_peer_record(a.peer_id) == legacy
        assert set(b.peerstore.addrs(a.peer_id)) == set(a.addrs)


def _forgeries() -> list[tuple[str, Callable[[Host], bytes]]]:
    other = generate_key_pair()
    return [
        ("another key", lambda h: _legacy_record(h, key=other)),
        ("standard domain", lambda h: _legacy_record(h, domain=PEER_RECORD_DOMAIN)),
        ("no domain", lambda h: _legacy_record(h, domain="")),
    ]


@pytest.mark.parametrize(("what", "forge"), _forgeries(), ids=[w for w, _ in _forgeries()])
async def test_forged_legacy_record_dropped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                            what: str, forge: Callable[[Host], bytes]) -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        forged = forge(a)
        monkeypatch.setattr(a.services["identify"], "_signed_record", lambda: forged)
        a.services["identify"]._encoded = None  # the answer made at start: made again with the patched record
        with caplog.at_level(logging.WARNING, logger="libp2p.protocols.identify"):
            await b.connect(a.full_addrs()[0])
            info = await b.services["identify"].identify(a.peer_id)
        assert "invalid signed peer record" in caplog.text
        assert info.signed_peer_record is None
        assert info.certified_addrs is None
        assert b.peerstore.signed_peer_record(a.peer_id) is None
        # the rest of the identify is used: plain listen addresses, protocols, agent
        assert info.listen_addrs == a.addrs
        assert set(b.peerstore.addrs(a.peer_id)) >= set(a.addrs)
        assert "/ipfs/ping/1.0.0" in b.peerstore.protocols(a.peer_id)
