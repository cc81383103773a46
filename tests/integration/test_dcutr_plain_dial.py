"""The DCUtR initiator (reached through a relay) runs the spec's plain dial to the peer's announced
addresses beside the hole punch, not before it: behind a NAT that drops unsolicited SYNs that dial
only ends at its timeout, and the punch must not wait for it (rust-libp2p dialing our listener
announces its NAT mapping, and every punch to it came identify_timeout late). Whichever gets a
direct connection first wins and the other is cancelled."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.dcutr import DcutrService, HolePunchFailed, HolePunchSucceeded

PUNCHED = Multiaddr("/ip4/11.0.0.2/tcp/4001")
LIMIT = 10.0


class Recorder:
    def __init__(self) -> None:
        self.emitted: list[object] = []

    def emit(self, event: object) -> None:
        self.emitted.append(event)


def service_on_fake_host() -> tuple[DcutrService, Recorder, Any]:
    service = DcutrService()
    events = Recorder()
    service._host = SimpleNamespace(events=events)  # type: ignore[assignment]  # _initiate only emits
    peer = PeerId.from_public_key(generate_key_pair().public_key)
    return service, events, SimpleNamespace(remote_peer_id=peer)


async def test_the_punch_does_not_wait_for_a_plain_dial_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    service, events, conn = service_on_fake_host()
    plain_started = asyncio.Event()
    plain_cancelled = asyncio.Event()

    async def plain_dial_into_a_nat(peer: PeerId) -> Multiaddr | None:
        plain_started.set()
        try:
            await asyncio.Event().wait()  # the SYN is dropped: only a timeout would end it
        except asyncio.CancelledError:
            plain_cancelled.set()
            raise
        return None

    async def punch(_conn: object) -> tuple[Multiaddr, int] | str:
        await plain_started.wait()  # running while the plain dial is still pending
        return PUNCHED, 1

    monkeypatch.setattr(service, "_dial_announced", plain_dial_into_a_nat)
    monkeypatch.setattr(service, "_punch_attempts", punch)
    await asyncio.wait_for(service._initiate(conn), LIMIT)
    assert events.emitted == [HolePunchSucceeded(conn.remote_peer_id, PUNCHED, 1)]
    assert plain_cancelled.is_set()
    assert service.results == {"direct": 1}


async def test_a_plain_dial_that_works_ends_the_punch(monkeypatch: pytest.MonkeyPatch) -> None:
    service, events, conn = service_on_fake_host()
    punch_cancelled = asyncio.Event()

    async def plain_dial_to_a_public_peer(peer: PeerId) -> Multiaddr | None:
        return PUNCHED

    async def punch(_conn: object) -> tuple[Multiaddr, int] | str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            punch_cancelled.set()
            raise
        raise AssertionError("unreachable")

    monkeypatch.setattr(service, "_dial_announced", plain_dial_to_a_public_peer)
    monkeypatch.setattr(service, "_punch_attempts", punch)
    await asyncio.wait_for(service._initiate(conn), LIMIT)
    assert events.emitted == [HolePunchSucceeded(conn.remote_peer_id, PUNCHED, 0)]
    assert punch_cancelled.is_set()


async def test_both_failing_is_one_failure_with_the_punch_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    service, events, conn = service_on_fake_host()

    async def plain_dial_fails(peer: PeerId) -> Multiaddr | None:
        return None

    async def punch_fails(_conn: object) -> tuple[Multiaddr, int] | str:
        return "TimeoutError: no SYN came back"

    monkeypatch.setattr(service, "_dial_announced", plain_dial_fails)
    monkeypatch.setattr(service, "_punch_attempts", punch_fails)
    await asyncio.wait_for(service._initiate(conn), LIMIT)
    assert events.emitted == [HolePunchFailed(conn.remote_peer_id, service.config.attempts,
                                              "TimeoutError: no SYN came back")]
    assert service.results == {"failed": 1}
