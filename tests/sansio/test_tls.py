"""libp2p TLS: the certificate (spec vectors, every key type, bad certificates) and the
handshake core pumped in memory (ALPN muxer negotiation, peer ID check, refusals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libp2p.errors import PeerIdMismatchError as AnyPeerIdMismatchError
from libp2p.errors import RemoteProtocolError
from libp2p.identity.keys import KeyType, PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls import (
    CertificateChainError,
    CertificateError,
    CertificateExpiredError,
    DuplicateExtensionError,
    InvalidCertificateSignatureError,
    InvalidSignedKeyError,
    MalformedCertificateError,
    MissingCertificateError,
    MissingExtensionError,
    PeerIdMismatchError,
    TLSHandshakeError,
)
from libp2p.security.tls.certificate import (
    decode_signed_key,
    encode_signed_key,
    generate_certificate,
    verify_certificate,
    verify_certificate_chain,
)
from libp2p.security.tls import core as tls_core
from libp2p.security.tls.core import Credentials, TLSHandshake, alpn_offer, select_alpn
from tests.conftest import load_vector
from tests.security import tls_certs

NOW = tls_certs.NOW
CLIENT_KEY, SERVER_KEY = generate_key_pair(), generate_key_pair()
YAMUX, MPLEX = "/yamux/1.0.0", "/mplex/6.7.0"

# --- certificate ----------------------------------------------------------------------------------

VECTORS = load_vector("official/tls-certificate-vectors.json")["vectors"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["valid"]], ids=lambda v: v["name"].split(" ")[-3])
def test_spec_vector_valid(vector: dict[str, str]) -> None:
    peer = verify_certificate(bytes.fromhex(vector["certificate_der_hex"]), NOW)
    assert peer.peer_id == PeerId.from_string(vector["expected_peer_id"])
    assert PeerId.from_public_key(peer.public_key) == peer.peer_id


def test_spec_vector_invalid_signature() -> None:
    (vector,) = [v for v in VECTORS if not v["valid"]]
    with pytest.raises(InvalidSignedKeyError):
        verify_certificate(bytes.fromhex(vector["certificate_der_hex"]), NOW)


@pytest.mark.parametrize("key_type", list(KeyType), ids=lambda k: k.name)
def test_generated_certificate_round_trip(key_type: KeyType) -> None:
    identity = generate_key_pair(key_type, bits=2048)
    certificate, key = generate_certificate(identity, NOW)
    ext = certificate.extensions.get_extension_for_oid(tls_certs.LIBP2P_EXTENSION)
    assert ext.critical
    der = certificate.public_bytes(Encoding.DER)
    peer = verify_certificate(der, NOW)
    assert peer.peer_id == PeerId.from_public_key(identity.public_key)
    # a fresh certificate key every time, never the host key
    again, key2 = generate_certificate(identity, NOW)
    assert again.public_key() != certificate.public_key()


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("no-extension", MissingExtensionError),
        ("two-extensions", DuplicateExtensionError),
        ("expired", CertificateExpiredError),
        ("not-yet-valid", CertificateExpiredError),
        ("signed-key-by-another-key", InvalidSignedKeyError),
        ("self-signature-by-another-key", InvalidCertificateSignatureError),
    ],
)
def test_bad_certificate_refused(case: str, error: type[Exception]) -> None:
    creds = tls_certs.BAD[case](generate_key_pair())
    assert creds.certificate is not None
    with pytest.raises(error):
        verify_certificate(creds.certificate, NOW)


def test_chain_must_hold_exactly_one_certificate() -> None:
    creds = tls_certs.chain_of_two(generate_key_pair())
    assert creds.certificate is not None
    verify_certificate_chain([creds.certificate], NOW)
    with pytest.raises(CertificateChainError):
        verify_certificate_chain([creds.certificate, *creds.extra_chain], NOW)
    with pytest.raises(MissingCertificateError):
        verify_certificate_chain([], NOW)


def test_signed_key_der_is_strict_and_bounded() -> None:
    encoded = encode_signed_key(b"k" * 200, b"s" * 64)
    assert decode_signed_key(encoded) == (b"k" * 200, b"s" * 64)
    bad = [
        b"",
        b"\x30",
        encoded + b"\x00",  # trailing bytes
        encoded[:-1],  # truncated
        b"\x31" + encoded[1:],  # SET, not SEQUENCE
        b"\x30\x84\xff\xff\xff\xff",  # absurd length
        b"\x30\x81\x05\x04\x01a\x04\x00",  # non-minimal length
        bytes.fromhex("3006040161040162") + b"\x04\x00",  # third element
    ]
    for data in bad:
        with pytest.raises(MalformedCertificateError):
            decode_signed_key(data)


def test_garbage_certificate_is_a_decode_error() -> None:
    with pytest.raises(MalformedCertificateError):
        verify_certificate(b"\x30\x03\x02\x01\x01", NOW)
    with pytest.raises(MalformedCertificateError):
        verify_certificate(b"\x30" * 20000, NOW)


# --- handshake cores pumped in memory ----------------------------------------------------------


def _handshake(
    client_key: PrivateKey,
    server_key: PrivateKey,
    *,
    client_muxers: Sequence[str] = (YAMUX, MPLEX),
    server_muxers: Sequence[str] = (YAMUX, MPLEX),
    expected: PeerId | None = None,
    client_credentials: Credentials | None = None,
    server_credentials: Credentials | None = None,
) -> tuple[TLSHandshake, TLSHandshake]:
    client = TLSHandshake(
        True, client_key, remote_peer_id=expected, muxers=client_muxers, now=NOW, credentials=client_credentials
    )
    server = TLSHandshake(
        False, server_key, remote_peer_id=None, muxers=server_muxers, now=NOW, credentials=server_credentials
    )
    for _ in range(10):
        if client.complete and server.complete:
            break
        to_server = client.data_to_send()
        if to_server:
            if server.complete:
                assert server.session().decrypt(to_server) == []
            else:
                server.receive_data(to_server)
        to_client = server.data_to_send()
        if to_client:
            if client.complete:
                assert client.session().decrypt(to_client) == []
            else:
                client.receive_data(to_client)
    return client, server


def test_handshake_authenticates_both_and_picks_the_muxer_through_alpn() -> None:
    ck, sk = generate_key_pair(), generate_key_pair(KeyType.Secp256k1)
    client, server = _handshake(ck, sk, client_muxers=(MPLEX, YAMUX), expected=PeerId.from_public_key(sk.public_key))
    c, s = client.next_event(), server.next_event()
    assert c is not None and s is not None
    assert c.remote_peer_id == PeerId.from_public_key(sk.public_key)
    assert s.remote_peer_id == PeerId.from_public_key(ck.public_key)
    assert c.selected_muxer == s.selected_muxer == MPLEX  # the client's preference
    # records flow both ways
    a, b = client.session(), server.session()
    assert b"".join(b.decrypt(a.encrypt(b"hello server"))) == b"hello server"
    assert b"".join(a.decrypt(b.encrypt(b"x" * 100_000))) == b"x" * 100_000


def test_alpn_lists() -> None:
    assert alpn_offer([YAMUX, MPLEX]) == [YAMUX.encode(), MPLEX.encode(), b"libp2p"]
    assert select_alpn([b"/other", MPLEX.encode(), b"libp2p"], [YAMUX, MPLEX]) == MPLEX.encode()
    assert select_alpn([b"/other", b"libp2p"], [YAMUX]) == b"libp2p"
    assert select_alpn([b"h2"], [YAMUX]) is None


def test_no_common_muxer_falls_back_to_multistream() -> None:
    client, server = _handshake(generate_key_pair(), generate_key_pair(), client_muxers=(MPLEX,), server_muxers=(YAMUX,))
    c, s = client.next_event(), server.next_event()
    assert c is not None and s is not None
    assert c.selected_muxer is None and s.selected_muxer is None


def test_no_libp2p_alpn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # a client that offers only a foreign protocol
    monkeypatch.setattr(tls_core, "alpn_offer", lambda muxers: [b"h2"])
    client = TLSHandshake(True, generate_key_pair(), remote_peer_id=None, muxers=(), now=NOW)
    server = TLSHandshake(False, generate_key_pair(), remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    with pytest.raises(TLSHandshakeError, match="ALPN"):
        server.receive_data(client.data_to_send())


def test_dialing_x_and_reaching_y_fails() -> None:
    expected = PeerId.from_public_key(generate_key_pair().public_key)
    with pytest.raises(PeerIdMismatchError) as info:
        _handshake(generate_key_pair(), generate_key_pair(), expected=expected)
    assert isinstance(info.value, AnyPeerIdMismatchError)
    assert info.value.expected == expected


def test_server_refuses_a_client_without_certificate() -> None:
    with pytest.raises(MissingCertificateError):
        _handshake(generate_key_pair(), generate_key_pair(), client_credentials=Credentials(None, None))


BAD_CASES: dict[str, type[CertificateError]] = {
    "no-extension": MissingExtensionError,
    "two-extensions": DuplicateExtensionError,
    "expired": CertificateExpiredError,
    "signed-key-by-another-key": InvalidSignedKeyError,
    "self-signature-by-another-key": InvalidCertificateSignatureError,
    "chain-of-two": CertificateChainError,
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_server_refuses_a_bad_client_certificate(case: str) -> None:
    ck = generate_key_pair()
    make: Callable[[PrivateKey], Credentials] = tls_certs.BAD[case]
    with pytest.raises(BAD_CASES[case]) as info:
        _handshake(ck, generate_key_pair(), client_credentials=make(ck))
    assert isinstance(info.value, RemoteProtocolError)


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_client_refuses_a_bad_server_certificate(case: str) -> None:
    sk = generate_key_pair()
    with pytest.raises(BAD_CASES[case]):
        _handshake(generate_key_pair(), sk, server_credentials=tls_certs.BAD[case](sk))


def test_oversized_handshake_is_refused() -> None:
    server = TLSHandshake(False, generate_key_pair(), remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    with pytest.raises(TLSHandshakeError):
        for _ in range(100):
            server.receive_data(b"\x16\x03\x01\x40\x00" + b"\x01" * 4000)


def test_certificate_lifetime_is_go_libp2p_s() -> None:
    certificate, _ = generate_certificate(generate_key_pair(), NOW)
    assert certificate.not_valid_before_utc < NOW
    assert certificate.not_valid_after_utc - NOW > dt.timedelta(days=365 * 99)


def test_application_data_behind_the_finished_is_not_counted_as_handshake() -> None:
    """The read that completes the server's handshake may carry much data after the client's Finished."""
    client = TLSHandshake(True, generate_key_pair(), remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    server = TLSHandshake(False, generate_key_pair(), remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.complete
    payload = b"u" * 200_000
    server.receive_data(client.data_to_send() + client.session().encrypt(payload))
    assert server.complete
    assert b"".join(server.pending_plaintext) == payload


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_garbage_into_the_server_is_a_typed_error_or_waits(data: bytes) -> None:
    server = TLSHandshake(False, SERVER_KEY, remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    try:
        server.receive_data(data)
    except TLSHandshakeError:
        return
    assert not server.complete


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=64))
def test_corrupted_server_flight_is_a_typed_error(offset: int, junk: bytes) -> None:
    client = TLSHandshake(True, CLIENT_KEY, remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    server = TLSHandshake(False, SERVER_KEY, remote_peer_id=None, muxers=(YAMUX,), now=NOW)
    server.receive_data(client.data_to_send())
    flight = bytearray(server.data_to_send())
    at = offset % len(flight)
    flight[at : at + len(junk)] = bytes(b ^ 0x5A for b in junk)
    try:
        client.receive_data(bytes(flight))
    except TLSHandshakeError:
        return
    if client.complete:
        # bytes outside the transcript (the compatibility ChangeCipherSpec, a record header's
        # legacy version): the handshake still authenticated exactly the real server
        event = client.next_event()
        assert event is not None and event.remote_peer_id == PeerId.from_public_key(SERVER_KEY.public_key)
    # else a corrupted record length: still waiting, never authenticated
