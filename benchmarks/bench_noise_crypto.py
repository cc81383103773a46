"""The crypto floor of a Noise XX handshake: X25519 and Ed25519 through each library we could use.

Run: ``.venv/bin/python benchmarks/bench_noise_crypto.py [ROUNDS]``

A listener's handshake makes one X25519 key (its ephemeral; the static key is reused), three
X25519 DH and one Ed25519 verify (its own signature is made once per host). Each candidate is
timed per operation, the candidates interleaved round by round, and the median of the rounds
printed (microseconds per operation), so a load spike hits all candidates alike:

* ``libsodium``: PyNaCl's bundled libsodium through its cffi ``lib`` (what the Cython twins call
  through function pointers; the Python-call overhead of cffi is included, ~0.3 us);
* ``openssl-bundled``: pyca/cryptography's OpenSSL through its Python API (key objects per call,
  as a handshake would need them);
* ``openssl-system``: the system libcrypto through ctypes and the EVP API (skipped when absent).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from nacl._sodium import ffi, lib

MESSAGE = b"noise-libp2p-static-key:" + bytes(range(32))  # what a handshake verifies: 56 bytes


def _sodium() -> dict[str, Callable[[], object]]:
    import nacl.bindings  # noqa: F401  # runs sodium_init()

    priv, peer_priv = os.urandom(32), os.urandom(32)
    peer_pub = ffi.new("unsigned char[32]")
    lib.crypto_scalarmult_base(peer_pub, peer_priv)
    peer = bytes(peer_pub)
    out = ffi.new("unsigned char[32]")
    pk, sk = ffi.new("unsigned char[32]"), ffi.new("unsigned char[64]")
    lib.crypto_sign_keypair(pk, sk)
    sm = ffi.new("unsigned char[]", 64 + len(MESSAGE))
    smlen = ffi.new("unsigned long long *")
    lib.crypto_sign(sm, smlen, MESSAGE, len(MESSAGE), sk)
    signed = bytes(sm)
    m = ffi.new("unsigned char[]", len(signed))
    mlen = ffi.new("unsigned long long *")
    public = bytes(pk)
    assert lib.crypto_sign_open(m, mlen, signed, len(signed), public) == 0
    return {
        "x25519 keygen": lambda: lib.crypto_scalarmult_base(out, priv),
        "x25519 dh": lambda: lib.crypto_scalarmult(out, priv, peer),
        "ed25519 verify": lambda: lib.crypto_sign_open(m, mlen, signed, len(signed), public),
    }


def _openssl_bundled() -> dict[str, Callable[[], object]]:
    priv = os.urandom(32)
    peer = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    signer = ed25519.Ed25519PrivateKey.generate()
    sig = signer.sign(MESSAGE)
    public = signer.public_key().public_bytes_raw()

    def keygen() -> object:
        return x25519.X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes_raw()

    # Importing a raw X25519 private key computes its public key in OpenSSL (a keygen's cost),
    # so the key object is made once, as a handshake would keep its ephemeral/static key objects;
    # the peer's public key object is made per DH, as it arrives per handshake.
    mine = x25519.X25519PrivateKey.from_private_bytes(priv)

    def dh() -> object:
        return mine.exchange(x25519.X25519PublicKey.from_public_bytes(peer))

    def verify() -> object:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(sig, MESSAGE)
        return None

    return {"x25519 keygen": keygen, "x25519 dh": dh, "ed25519 verify": verify}


def _openssl_system() -> dict[str, Callable[[], object]] | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    c = ctypes.CDLL(name)
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    c.EVP_PKEY_new_raw_private_key.restype = vp
    c.EVP_PKEY_new_raw_private_key.argtypes = [ctypes.c_int, vp, ctypes.c_char_p, sz]
    c.EVP_PKEY_new_raw_public_key.restype = vp
    c.EVP_PKEY_new_raw_public_key.argtypes = [ctypes.c_int, vp, ctypes.c_char_p, sz]
    c.EVP_PKEY_get_raw_public_key.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(sz)]
    c.EVP_PKEY_free.argtypes = [vp]
    c.EVP_PKEY_CTX_new.restype = vp
    c.EVP_PKEY_CTX_new.argtypes = [vp, vp]
    c.EVP_PKEY_CTX_free.argtypes = [vp]
    c.EVP_PKEY_derive_init.argtypes = [vp]
    c.EVP_PKEY_derive_set_peer.argtypes = [vp, vp]
    c.EVP_PKEY_derive.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(sz)]
    c.EVP_MD_CTX_new.restype = vp
    c.EVP_MD_CTX_free.argtypes = [vp]
    c.EVP_DigestVerifyInit.argtypes = [vp, vp, vp, vp, vp]
    c.EVP_DigestVerify.argtypes = [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz]
    nid_x25519, nid_ed25519 = 1034, 1087
    priv = os.urandom(32)
    peer = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    signer = ed25519.Ed25519PrivateKey.generate()
    sig = signer.sign(MESSAGE)
    public = signer.public_key().public_bytes_raw()
    out = ctypes.create_string_buffer(32)
    outlen = sz(32)

    def keygen() -> object:
        key = c.EVP_PKEY_new_raw_private_key(nid_x25519, None, priv, 32)
        outlen.value = 32
        c.EVP_PKEY_get_raw_public_key(key, out, ctypes.byref(outlen))
        c.EVP_PKEY_free(key)
        return None

    own_key = c.EVP_PKEY_new_raw_private_key(nid_x25519, None, priv, 32)  # once: see above

    def dh() -> object:
        other = c.EVP_PKEY_new_raw_public_key(nid_x25519, None, peer, 32)
        ctx = c.EVP_PKEY_CTX_new(own_key, None)
        c.EVP_PKEY_derive_init(ctx)
        c.EVP_PKEY_derive_set_peer(ctx, other)
        outlen.value = 32
        c.EVP_PKEY_derive(ctx, out, ctypes.byref(outlen))
        c.EVP_PKEY_CTX_free(ctx)
        c.EVP_PKEY_free(other)
        return None

    def verify() -> object:
        key = c.EVP_PKEY_new_raw_public_key(nid_ed25519, None, public, 32)
        md = c.EVP_MD_CTX_new()
        c.EVP_DigestVerifyInit(md, None, None, None, key)
        ok = c.EVP_DigestVerify(md, sig, 64, MESSAGE, len(MESSAGE))
        c.EVP_MD_CTX_free(md)
        c.EVP_PKEY_free(key)
        assert ok == 1
        return None

    version = ctypes.CDLL(name).OpenSSL_version
    version.restype = ctypes.c_char_p
    _openssl_system.version = version(0).decode()  # type: ignore[attr-defined]
    return {"x25519 keygen": keygen, "x25519 dh": dh, "ed25519 verify": verify}


def _time(fn: Callable[[], object], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number * 1e6


def main(argv: list[str]) -> int:
    rounds = int(argv[0]) if argv else 7
    number = int(argv[1]) if len(argv) > 1 else 400
    candidates: dict[str, dict[str, Callable[[], object]]] = {
        "libsodium": _sodium(),
        "openssl-bundled": _openssl_bundled(),
    }
    system = _openssl_system()
    if system is not None:
        candidates["openssl-system"] = system
    samples: dict[str, dict[str, list[float]]] = {c: {op: [] for op in ops} for c, ops in candidates.items()}
    for _ in range(rounds):
        for cand, ops in candidates.items():
            for op, fn in ops.items():
                samples[cand][op].append(_time(fn, number))
    from cryptography.hazmat.backends.openssl import backend

    import nacl

    result = {
        "versions": {
            "pynacl": nacl.__version__,
            "libsodium": "bundled in PyNaCl (its version string is not exposed through cffi)",
            "openssl-bundled": backend.openssl_version_text(),
            "openssl-system": getattr(_openssl_system, "version", None),
        },
        "rounds": rounds,
        "per_round": number,
        "us_median": {c: {op: round(statistics.median(v), 2) for op, v in ops.items()} for c, ops in samples.items()},
    }
    for cand, ops in result["us_median"].items():  # type: ignore[union-attr]
        floor = ops["x25519 keygen"] + 3 * ops["x25519 dh"] + ops["ed25519 verify"]
        ops["listener handshake floor"] = round(floor, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
