"""libp2p TLS: the host's certificate and OpenSSL context made once and shared by its handshakes
(``TLSIdentity``, ``HostCertificate``), and the record layer's two paths (direct cffi calls and
pyOpenSSL's public methods) giving the same records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls import CertificateError, PeerIdMismatchError, TLSError, TLSHandshakeError
from libp2p.security.tls import core as tls_core
from libp2p.security.tls.certificate import HostCertificate, verify_certificate
from libp2p.security.tls.core import Credentials, TLSHandshake, TLSIdentity, TLSRecords
from libp2p.security.tls.service import TLS
from tests.security import tls_certs

NOW = tls_certs.NOW
YAMUX = "/yamux/1.0.0"


def _pump(client: TLSHandshake, server: TLSHandshake) -> bytes:
    """Runs both cores to completion; what the server sent after the client finished."""
    late = b""
    for _ in range(10):
        if client.complete and server.complete:
            break
        to_server = client.data_to_send()
        if to_server and not server.complete:
            server.receive_data(to_server)
        to_client = server.data_to_send()
        if to_client:
            if client.complete:
                late += to_client
            else:
                client.receive_data(to_client)
    assert client.complete and server.complete
    return late + server.data_to_send()


def _connect(
    client_key: PrivateKey,
    server_key: PrivateKey,
    *,
    client_identity: TLSIdentity | None = None,
    server_identity: TLSIdentity | None = None,
    client_credentials: Credentials | None = None,
    expected: PeerId | None = None,
) -> tuple[TLSHandshake, TLSHandshake]:
    client = TLSHandshake(
        True, client_key, remote_peer_id=expected, muxers=(YAMUX,), now=NOW,
        identity=client_identity, credentials=client_credentials,
    )
    server = TLSHandshake(False, server_key, remote_peer_id=None, muxers=(YAMUX,), now=NOW, identity=server_identity)
    late = _pump(client, server)
    assert client.session().decrypt(late) == []
    return client, server


def _presented(handshake: TLSHandshake) -> bytes:
    """The DER certificate the peer of ``handshake`` was shown by it."""
    cert = handshake._conn.get_certificate(as_cryptography=True)
    assert cert is not None
    return cert.public_bytes(Encoding.DER)


def test_a_host_presents_one_certificate_on_every_connection() -> None:
    ck, sk = generate_key_pair(), generate_key_pair()
    client_identity, server_identity = TLSIdentity(ck), TLSIdentity(sk)
    pairs = [_connect(ck, sk, client_identity=client_identity, server_identity=server_identity) for _ in range(3)]
    assert len({_presented(server) for _, server in pairs}) == 1
    assert len({_presented(client) for client, _ in pairs}) == 1
    # and both ends still authenticated each other on each connection
    for client, server in pairs:
        c, s = client.next_event(), server.next_event()
        assert c is not None and s is not None
        assert c.remote_peer_id == PeerId.from_public_key(sk.public_key)
        assert s.remote_peer_id == PeerId.from_public_key(ck.public_key)
        assert c.selected_muxer == s.selected_muxer == YAMUX
    # one OpenSSL context for all of them
    assert server_identity.context(NOW) is pairs[0][1]._conn.get_context()
    # without an identity each handshake makes its own certificate
    fresh = [_connect(ck, sk) for _ in range(2)]
    assert _presented(fresh[0][1]) != _presented(fresh[1][1])


def test_the_tls_option_keeps_one_identity_per_host_key() -> None:
    option = TLS()
    key, other = generate_key_pair(), generate_key_pair()
    option.prepare(key, (YAMUX,))
    first = option.identity(key)
    assert option.identity(key) is first
    assert option.identity(other) is not first
    assert option.identity(other).identity_key == other
    certificate, _ = first.host_certificate.current(NOW)
    assert verify_certificate(certificate, NOW).peer_id == PeerId.from_public_key(key.public_key)


def test_an_identity_serves_only_its_own_key() -> None:
    with pytest.raises(TLSError, match="another host key"):
        TLSHandshake(True, generate_key_pair(), remote_peer_id=None, muxers=(), now=NOW, identity=TLSIdentity(generate_key_pair()))


def test_a_shared_context_still_checks_every_peer() -> None:
    """Refusing one client's bad certificate leaves nothing behind in the shared context: the
    next good client is accepted, the next bad one refused, a wrong peer ID still caught."""
    sk = generate_key_pair()
    server_identity = TLSIdentity(sk)
    for case in ("expired", "signed-key-by-another-key", "chain-of-two", "no-extension"):
        ck = generate_key_pair()
        with pytest.raises(CertificateError):
            _connect(ck, sk, server_identity=server_identity, client_credentials=tls_certs.BAD[case](ck))
        good_key = generate_key_pair()
        _, server = _connect(good_key, sk, client_identity=TLSIdentity(good_key), server_identity=server_identity)
        event = server.next_event()
        assert event is not None and event.remote_peer_id == PeerId.from_public_key(good_key.public_key)
    with pytest.raises(PeerIdMismatchError):
        _connect(generate_key_pair(), sk, server_identity=server_identity, expected=PeerId.from_public_key(generate_key_pair().public_key))


def test_no_session_is_resumable() -> None:
    """A shared context keeps no session cache (a resumed session would skip the certificate checks)."""
    from OpenSSL import SSL

    context = TLSIdentity(generate_key_pair()).context(NOW)
    assert context.get_session_cache_mode() == SSL.SESS_CACHE_OFF
    assert context.set_options(0) & SSL.OP_NO_TICKET  # set_options returns the options now set
    # and OpenSSL's record buffers are given back while a connection is idle
    assert context.set_mode(0) & SSL.MODE_RELEASE_BUFFERS


def test_host_certificate_is_kept_while_valid_and_renewed_before_it_ends() -> None:
    key = generate_key_pair()
    host = HostCertificate(key, lifetime=dt.timedelta(days=10))
    first, _ = host.current(NOW)
    assert host.current(NOW + dt.timedelta(days=8))[0] is first
    assert host.generation == 1
    # inside the last day (a tenth of the lifetime, at most a day): a new one
    renewed, _ = host.current(NOW + dt.timedelta(days=9, hours=12))
    assert renewed is not first and host.generation == 2
    assert renewed.not_valid_after_utc > NOW + dt.timedelta(days=19)
    # a clock set back past NotBefore (which is an hour before it was made): a new one
    assert host.current(NOW - dt.timedelta(days=1))[0] is not renewed
    # an identity rebuilds its context with the certificate
    identity = TLSIdentity(key, lifetime=dt.timedelta(days=10))
    context = identity.context(NOW)
    assert identity.context(NOW + dt.timedelta(days=1)) is context
    assert identity.context(NOW + dt.timedelta(days=9, hours=23)) is not context


def test_go_libp2p_s_validity_window() -> None:
    certificate, _ = HostCertificate(generate_key_pair()).current(NOW)
    assert dt.timedelta(minutes=59) < NOW - certificate.not_valid_before_utc <= dt.timedelta(hours=1, seconds=1)
    assert certificate.not_valid_after_utc - NOW > dt.timedelta(days=365 * 99)


# --- the record layer's two paths ------------------------------------------------------------


@pytest.fixture(params=["direct", "portable"])
def records_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "portable":
        monkeypatch.setattr(tls_core, "_DIRECT", False)
    yield request.param


def _sessions() -> tuple[TLSRecords, TLSRecords]:
    client, server = _connect(generate_key_pair(), generate_key_pair())
    return client.session(), server.session()


def test_record_layer_path_is_the_one_asked_for(records_path: str) -> None:
    a, _ = _sessions()
    assert (type(a) is not TLSRecords) == (records_path == "direct")


@pytest.mark.parametrize("size", [1, 44, 16383, 16384, 16385, 32 * 1024 + 1, 100_000, 300_000])
def test_records_round_trip_any_size(records_path: str, size: int) -> None:
    a, b = _sessions()
    payload = bytes(i & 0xFF for i in range(size))
    wire = a.encrypt(memoryview(bytearray(payload)))
    # at most one record per 16 KiB and 22 bytes each of overhead
    assert len(wire) == size + -(-size // 16384) * 22
    assert b"".join(b.decrypt(memoryview(wire))) == payload
    assert b"".join(a.decrypt(b.encrypt(payload))) == payload


def test_records_split_anywhere_come_out_whole(records_path: str) -> None:
    a, b = _sessions()
    messages = [b"m%d" % i * (i * 37 % 500 + 1) for i in range(40)]
    wire = b"".join(a.encrypt(m) for m in messages)
    out: list[bytes] = []
    for start in range(0, len(wire), 7):
        out.extend(b.decrypt(wire[start : start + 7]))
    assert b"".join(out) == b"".join(messages)
    # a batch of many records decrypts in one call (one chunk on the direct path)
    chunks = b.decrypt(b"".join(a.encrypt(m) for m in messages))
    assert b"".join(chunks) == b"".join(messages)
    if records_path == "direct":
        assert len(chunks) == 1


def test_close_notify_and_a_corrupted_record(records_path: str) -> None:
    a, b = _sessions()
    wire = bytearray(a.encrypt(b"hello"))
    wire[-1] ^= 1
    with pytest.raises(TLSHandshakeError):
        b.decrypt(bytes(wire))
    a2, b2 = _sessions()
    a2._conn.shutdown()  # close_notify
    assert b2.decrypt(a2.pending_output()) == []
    assert b2.closed_by_peer
    assert b2.decrypt(b"") == []


def test_quic_transport_presents_the_host_certificate_on_every_connection() -> None:
    from libp2p.transport.quic import QuicTransport

    key = generate_key_pair()
    transport = QuicTransport()
    transport.bind(key)
    # made when the host binds the transport, not in the first dial
    assert transport._certificate is not None and transport._certificate.generation == 1
    first, second = transport._configuration(True), transport._configuration(False)
    assert transport._certificate.generation == 1
    assert first.certificate is not None and first.certificate is second.certificate
    assert verify_certificate(first.certificate, NOW).peer_id == PeerId.from_public_key(key.public_key)
    # another host's transport: another certificate
    other = QuicTransport()
    other.bind(generate_key_pair())
    assert other._configuration(True).certificate is not first.certificate
