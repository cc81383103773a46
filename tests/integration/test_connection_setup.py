"""Connection set-up costs: what a new connection writes, signs and looks up, and when.

A listener accepting an optimistic dialer answers multistream in the same write as Noise message 2;
the first write after the handshake carries the yamux session's RTT ping together with identify's
stream open; the Noise static key is signed when the host is made; a listener on a specific
address takes it as every connection's local address; the host's event bus keeps delivering to the
right subscribers while it caches who gets what.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from libp2p._accel import yamux_unpack_header
from libp2p.host.events import ConnectionOpened, EventBus, HostEvent, PeerConnected
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.security.noise import core as noise_core
from libp2p.security.noise.service import NoiseSession
from libp2p.transport.connection import RawConnection
from tests.integration.transport_writes import plaintexts, record_transport_writes  # noqa: F401 - plaintexts: a fixture

TIMEOUT = 20.0
MULTISTREAM_NOISE_ANSWER = b"\x13/multistream/1.0.0\n\x07/noise\n"
YAMUX_PING, YAMUX_SYN = 2, 1


class _RecordingTransport:
    """Just enough of an asyncio transport to see what a RawConnection writes, and in how many calls."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, buffers: Any) -> None:
        self.writes.append(b"".join(bytes(b) for b in buffers))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")


def _raw() -> tuple[RawConnection, _RecordingTransport]:
    raw = RawConnection(is_initiator=False)
    transport = _RecordingTransport()
    raw.connection_made(transport)  # type: ignore[arg-type]
    return raw, transport


# --- RawConnection.write_later ------------------------------------------------------------------


async def test_write_later_goes_out_with_the_next_write() -> None:
    raw, transport = _raw()
    raw.write_later(b"answer")
    assert transport.writes == []
    raw.write(b"+message")
    assert transport.writes == [b"answer+message"]
    raw.writelines([b"a", b"b"])
    assert transport.writes[1:] == [b"ab"]
    assert raw.bytes_sent == len(b"answer+message") + 2


async def test_write_later_is_written_before_read_waits() -> None:
    raw, transport = _raw()
    raw.feed(b"already here")
    raw.write_later(b"answer")
    assert await raw.read() == b"already here"  # nothing to wait for: still held
    assert transport.writes == []
    reader = asyncio.ensure_future(raw.read())
    await asyncio.sleep(0)
    assert transport.writes == [b"answer"]  # the peer may be waiting for it
    raw.feed(b"reply")
    assert await reader == b"reply"


@pytest.mark.parametrize("end", ["close", "abort", "write_eof"])
async def test_write_later_is_not_lost_when_the_connection_ends(end: str) -> None:
    raw, transport = _raw()
    raw.write_later(b"na\n")
    getattr(raw, end)()
    assert transport.writes[0] == b"na\n"


# --- what a listener writes ---------------------------------------------------------------------


async def test_noise_messages_share_writes_with_what_follows_them(
    monkeypatch: pytest.MonkeyPatch, plaintexts: list[tuple[NoiseSession, bytes]],
) -> None:
    writes = record_transport_writes(monkeypatch)
    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
    dialer = new_host()
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        await dialer.connect(listener.full_addrs()[0])
        await dialer.services["identify"].identify(listener.peer_id)  # type: ignore[attr-defined]
        conn = listener.connections(dialer.peer_id)[0]
        async with asyncio.timeout(5):
            while not any(s is conn.secure for s, _ in plaintexts):  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
    listener_writes = [(raw, data) for raw, data in writes if not raw.is_initiator]
    dialer_writes = [data for raw, data in writes if raw.is_initiator]
    # The dialer's Noise message 3 (its second write) leaves with the connection's first frames.
    msg3_len = 2 + int.from_bytes(dialer_writes[1][:2], "big")
    assert len(dialer_writes[1]) > msg3_len
    first = [data for raw, data in listener_writes if raw is listener_writes[0][0]][0]
    # Our dialer proposes /noise optimistically: the answer rides with Noise message 2.
    assert first.startswith(MULTISTREAM_NOISE_ANSWER) and len(first) > len(MULTISTREAM_NOISE_ANSWER)
    assert all(data != MULTISTREAM_NOISE_ANSWER for _, data in listener_writes)
    # The first secured write carries the session's first RTT ping and identify's stream open.
    plaintext = [p for s, p in plaintexts if s is conn.secure][0]  # type: ignore[attr-defined]
    frames = []
    offset = 0
    while offset + 12 <= len(plaintext):
        _, kind, flags, stream_id, length = yamux_unpack_header(plaintext, offset)
        frames.append((kind, flags, stream_id))
        offset += 12 + (length if kind == 0 else 0)
    assert (YAMUX_PING, YAMUX_SYN, 0) in frames
    assert any(flags & YAMUX_SYN and stream_id and stream_id % 2 == 0 for _, flags, stream_id in frames)


async def test_noise_signs_its_static_key_when_the_host_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
    dialer = new_host()
    signed: list[bytes] = []
    make_payload = noise_core._make_payload

    def counting(*args: Any) -> bytes:
        signed.append(args[1])
        return make_payload(*args)

    monkeypatch.setattr(noise_core, "_make_payload", counting)
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        await dialer.connect(listener.full_addrs()[0])
        await dialer.ping(listener.peer_id)
    assert signed == []


# --- TCP addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/tcp/0"])
async def test_inbound_connection_local_address(listen: str) -> None:
    listener = new_host(listen_addrs=[listen])
    dialer = new_host()
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        port = listener.addrs[0].value_for_protocol("tcp")
        await dialer.connect(Multiaddr(f"/ip4/127.0.0.1/tcp/{port}/p2p/{listener.peer_id}"))
        await dialer.ping(listener.peer_id)  # answered: the listener has the connection
        conn = listener.connections(dialer.peer_id)[0]
        # the address the dialer reached, never the wildcard
        assert conn.local_addr == Multiaddr(f"/ip4/127.0.0.1/tcp/{port}")
        assert conn.remote_addr == dialer.connections(listener.peer_id)[0].local_addr


# --- the event bus's dispatch cache ----------------------------------------------------------------


class _Special(PeerConnected):
    pass


def test_event_bus_delivers_by_class_as_subscriptions_change() -> None:
    bus = EventBus()
    peer = PeerId.from_public_key(generate_key_pair().public_key)
    got: list[tuple[str, HostEvent]] = []
    bus.subscribe(PeerConnected, lambda e: got.append(("peer", e)))
    first = PeerConnected(peer)
    bus.emit(first)
    late = bus.subscribe((HostEvent,), lambda e: got.append(("all", e)))
    special = _Special(peer)
    bus.emit(special)  # a subclass reaches PeerConnected's subscribers
    assert got == [("peer", first), ("peer", special), ("all", special)]
    got.clear()
    late()
    bus.emit(first)
    assert got == [("peer", first)]

    def unsubscribes_the_next(e: HostEvent) -> None:
        got.append(("first", e))
        remove_next()

    got.clear()
    bus2 = EventBus()
    bus2.subscribe(PeerConnected, unsubscribes_the_next)
    remove_next = bus2.subscribe(PeerConnected, lambda e: got.append(("next", e)))
    bus2.emit(first)  # as before: who was subscribed when the event was emitted gets it
    bus2.emit(first)
    assert got == [("first", first), ("next", first), ("first", first)]
    assert not [e for e in got if isinstance(e[1], ConnectionOpened)]


# --- imports ------------------------------------------------------------------------------------------


def test_yamux_core_loads_with_its_option_not_on_the_first_connection() -> None:
    code = (
        "import sys; from libp2p.muxer.options import Yamux; "
        "assert 'libp2p.muxer.yamux.core' not in sys.modules; Yamux(); "
        "assert 'libp2p.muxer.yamux.core' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- identify's cached answer --------------------------------------------------------------------------


async def _identify_anew(dialer: Any, listener: Any) -> Any:
    """Identify ``listener`` on a new connection (the old one closed first)."""
    for conn in dialer.connections(listener.peer_id):
        await conn.close()
    await dialer.connect(listener.full_addrs()[0])
    return await dialer.services["identify"].identify(listener.peer_id)


async def test_identify_answer_is_cached_and_refreshed_when_protocols_or_addresses_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from libp2p.protocols.identify import service as identify_service

    encoded_by: list[Any] = []  # every host's: the listener's are counted
    encode = identify_service.encode_identify

    def counting(info: Any) -> bytes:
        encoded_by.append(info.public_key)
        return encode(info)

    monkeypatch.setattr(identify_service, "encode_identify", counting)
    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
    dialers = [new_host(), new_host()]

    def encoded() -> int:
        return sum(1 for key in encoded_by if key == listener.key.public_key)

    async with asyncio.timeout(TIMEOUT), listener, dialers[0], dialers[1]:
        await asyncio.sleep(0)  # prepared once started (see the next test)
        encoded_by.clear()
        infos = [await _identify_anew(d, listener) for d in dialers]
        assert encoded() == 0  # not again for either asker
        for dialer, info in zip(dialers, infos):
            # each asker still learns the address it is seen at
            assert info.observed_addr == dialer.connections(listener.peer_id)[0].local_addr
            assert "/extra/1.0.0" not in info.protocols

        async def extra(stream: Any) -> None:
            await stream.close()

        listener.set_stream_handler("/extra/1.0.0", extra)
        info = await _identify_anew(dialers[0], listener)
        assert "/extra/1.0.0" in info.protocols
        new_addrs = await listener.listen("/ip4/127.0.0.1/tcp/0")
        info = await _identify_anew(dialers[1], listener)
        assert set(new_addrs) <= set(info.listen_addrs)
        assert {a for a in listener.addrs} == set(info.certified_addrs or ())
        assert encoded() == 2  # once after each change


async def test_identify_answer_is_signed_before_anyone_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    from libp2p.identity import peer_record

    listener = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
    dialer = new_host()
    async with asyncio.timeout(TIMEOUT), listener, dialer:
        await asyncio.sleep(0)  # the loop pass after the last address change: answer prepared
        sealed: list[Any] = []
        seal = peer_record.PeerRecord.seal

        def counting(self: Any, key: Any) -> Any:
            sealed.append(key)
            return seal(self, key)

        monkeypatch.setattr(peer_record.PeerRecord, "seal", counting)
        await dialer.connect(listener.full_addrs()[0])
        info = await dialer.services["identify"].identify(listener.peer_id)  # type: ignore[attr-defined]
        assert set(info.certified_addrs or ()) == set(listener.addrs)
        assert listener.key not in sealed
