"""Key-library comparison: which library signs and verifies fastest per key type.

Run: ``.venv/bin/pytest benchmarks/bench_keys.py --benchmark-only``

Groups: ed25519-sign/verify (PyNaCl vs cryptography), secp256k1-sign/verify (coincurve vs
cryptography), ecdsa-p256-sign/verify and rsa2048-sign/verify (cryptography), and the same
operations through ``libp2p.identity.keys`` to show our wrapper's overhead.
"""

from __future__ import annotations

from typing import Any

import coincurve
import nacl.signing
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from libp2p.identity.keys import KeyType, generate_key_pair

MSG = b"libp2p benchmark message: a noise handshake payload is about this long." * 2
SHA256 = hashes.SHA256()

# pytest-benchmark's fixture (BenchmarkFixture: callable, with a settable .group).
Bench = Any

# --- Ed25519 --------------------------------------------------------------------------------

_NACL_ED = nacl.signing.SigningKey.generate()
_NACL_ED_SIG = _NACL_ED.sign(MSG).signature
_CRY_ED = ed25519.Ed25519PrivateKey.generate()
_CRY_ED_SIG = _CRY_ED.sign(MSG)


@pytest.mark.benchmark(group="ed25519-sign")
def test_ed25519_sign_pynacl(benchmark: Bench) -> None:
    benchmark(lambda: _NACL_ED.sign(MSG).signature)


@pytest.mark.benchmark(group="ed25519-sign")
def test_ed25519_sign_cryptography(benchmark: Bench) -> None:
    benchmark(_CRY_ED.sign, MSG)


@pytest.mark.benchmark(group="ed25519-verify")
def test_ed25519_verify_pynacl(benchmark: Bench) -> None:
    vk = _NACL_ED.verify_key
    benchmark(vk.verify, MSG, _NACL_ED_SIG)


@pytest.mark.benchmark(group="ed25519-verify")
def test_ed25519_verify_cryptography(benchmark: Bench) -> None:
    pk = _CRY_ED.public_key()
    benchmark(pk.verify, _CRY_ED_SIG, MSG)


# --- secp256k1 ------------------------------------------------------------------------------

_CC_K1 = coincurve.PrivateKey()
_CC_K1_SIG = _CC_K1.sign(MSG)
_CRY_K1 = ec.generate_private_key(ec.SECP256K1())
_ECDSA_SHA256 = ec.ECDSA(SHA256)
_CRY_K1_SIG = _CRY_K1.sign(MSG, _ECDSA_SHA256)


@pytest.mark.benchmark(group="secp256k1-sign")
def test_secp256k1_sign_coincurve(benchmark: Bench) -> None:
    benchmark(_CC_K1.sign, MSG)


@pytest.mark.benchmark(group="secp256k1-sign")
def test_secp256k1_sign_cryptography(benchmark: Bench) -> None:
    benchmark(_CRY_K1.sign, MSG, _ECDSA_SHA256)


@pytest.mark.benchmark(group="secp256k1-verify")
def test_secp256k1_verify_coincurve(benchmark: Bench) -> None:
    pk = _CC_K1.public_key
    assert pk.verify(_CC_K1_SIG, MSG)
    benchmark(pk.verify, _CC_K1_SIG, MSG)


@pytest.mark.benchmark(group="secp256k1-verify")
def test_secp256k1_verify_cryptography(benchmark: Bench) -> None:
    pk = _CRY_K1.public_key()
    benchmark(pk.verify, _CRY_K1_SIG, MSG, _ECDSA_SHA256)


# --- ECDSA P-256 and RSA-2048 (cryptography only) -------------------------------------------

_P256 = ec.generate_private_key(ec.SECP256R1())
_P256_SIG = _P256.sign(MSG, _ECDSA_SHA256)
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_PKCS1 = padding.PKCS1v15()
_RSA_SIG = _RSA.sign(MSG, _PKCS1, SHA256)


@pytest.mark.benchmark(group="ecdsa-p256-sign")
def test_ecdsa_p256_sign_cryptography(benchmark: Bench) -> None:
    benchmark(_P256.sign, MSG, _ECDSA_SHA256)


@pytest.mark.benchmark(group="ecdsa-p256-verify")
def test_ecdsa_p256_verify_cryptography(benchmark: Bench) -> None:
    pk = _P256.public_key()
    benchmark(pk.verify, _P256_SIG, MSG, _ECDSA_SHA256)


@pytest.mark.benchmark(group="rsa2048-sign")
def test_rsa2048_sign_cryptography(benchmark: Bench) -> None:
    benchmark(_RSA.sign, MSG, _PKCS1, SHA256)


@pytest.mark.benchmark(group="rsa2048-verify")
def test_rsa2048_verify_cryptography(benchmark: Bench) -> None:
    pk = _RSA.public_key()
    benchmark(pk.verify, _RSA_SIG, MSG, _PKCS1, SHA256)


# --- the same through libp2p.identity.keys (wrapper overhead) ------------------------------

_OURS = {
    "ed25519": generate_key_pair(KeyType.Ed25519),
    "secp256k1": generate_key_pair(KeyType.Secp256k1),
    "ecdsa-p256": generate_key_pair(KeyType.ECDSA),
}
_OURS_SIGS = {name: key.sign(MSG) for name, key in _OURS.items()}


@pytest.mark.parametrize("name", sorted(_OURS))
def test_libp2p_sign(benchmark: Bench, name: str) -> None:
    benchmark.group = f"{name}-sign"
    benchmark(_OURS[name].sign, MSG)


@pytest.mark.parametrize("name", sorted(_OURS))
def test_libp2p_verify(benchmark: Bench, name: str) -> None:
    benchmark.group = f"{name}-verify"
    pub = _OURS[name].public_key
    assert pub.verify(MSG, _OURS_SIGS[name])
    benchmark(pub.verify, MSG, _OURS_SIGS[name])
