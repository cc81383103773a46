"""TLS connection set-up between hosts on loopback: what the dialer writes, and that a host makes its
certificate once (when it is made) and presents it on every connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from libp2p.node import new_host
from libp2p.security.tls import TLS
from libp2p.security.tls.certificate import HostCertificate
from libp2p.security.tls.core import TLSHandshake
from tests.integration.transport_writes import record_transport_writes

TIMEOUT = 20.0


async def test_the_dialer_s_last_flight_leaves_with_the_first_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = record_transport_writes(monkeypatch)
    last_flights: list[bytes] = []
    data_to_send = TLSHandshake.data_to_send

    def record_flight(self: TLSHandshake) -> bytes:
        out = data_to_send(self)
        if self.is_initiator and self.complete and out:
            last_flights.append(out)
        return out

    monkeypatch.setattr(TLSHandshake, "data_to_send", record_flight)
    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], security=[TLS()])
    dialer = new_host(security=[TLS()])
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        await dialer.connect(listener.full_addrs()[0])
        await dialer.services["ping"].ping(listener.peer_id, 1)  # type: ignore[attr-defined]
    (flight,) = last_flights
    dialer_writes = [data for raw, data in writes if raw.is_initiator]
    # Certificate, CertificateVerify and Finished go out in front of the connection's first frames,
    # in one write: the listener completes its handshake and reads the frames in one pass.
    assert flight not in dialer_writes
    assert any(data.startswith(flight) and len(data) > len(flight) for data in dialer_writes)


async def test_a_host_makes_its_certificate_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[HostCertificate] = []
    current = HostCertificate.current

    def counted(self: HostCertificate, now: Any) -> Any:
        generation = self.generation
        result = current(self, now)
        if self.generation != generation:
            made.append(self)
        return result

    monkeypatch.setattr(HostCertificate, "current", counted)
    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], security=[TLS()])
    assert len(made) == 1  # when the host is made, not in its first handshake
    dialer = new_host(security=[TLS()])
    assert len(made) == 2
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        for _ in range(3):
            await dialer.connect(listener.full_addrs()[0])
            await dialer.services["ping"].ping(listener.peer_id, 1)  # type: ignore[attr-defined]
            await dialer.disconnect(listener.peer_id)
    assert len(made) == 2
