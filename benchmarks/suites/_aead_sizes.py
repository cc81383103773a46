#!/usr/bin/env python3
"""Noise transport AEAD per message by size: the Cython twin through libsodium vs through cryptography.

    .venv/bin/python benchmarks/suites/_aead_sizes.py [--sizes 1,31,...]

The Cython twin (``_native/noise.pxi``) sends messages of up to ``_SODIUM_MAX`` plaintext bytes
to PyNaCl's libsodium directly and larger ones to cryptography (OpenSSL); this prints ns per
``encrypt`` and per ``decrypt`` of one framed message each way, to place that crossover.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import timeit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,31,256,1024,2048,4096,8192,16384,65519")
    args = ap.parse_args()
    from libp2p import _native  # type: ignore[attr-defined]

    if not _native._noise_sodium_available():
        print("libsodium is not available to the Cython twin", file=sys.stderr)
        return 1
    key = os.urandom(32)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        data = os.urandom(size)
        row: dict[str, float | int] = {"size": size}
        for path, limit in (("sodium", 1 << 20), ("cryptography", -1)):
            old = _native._noise_set_sodium_max(limit)
            try:
                enc = _native.NoiseEncryptor(key)
                number = max(200, 400_000 // (size + 100))
                t_enc = min(timeit.repeat(lambda: enc.encrypt(data), number=number, repeat=5)) / number
                # Each message must be decrypted in nonce order: one decryptor over one sender's run.
                sender = _native.NoiseEncryptor(key)
                it = iter([sender.encrypt(data) for _ in range(5 * number)])
                dec = _native.NoiseDecryptor(key)
                t_dec = min(timeit.repeat(lambda: dec.decrypt(next(it)), number=number, repeat=5)) / number
            finally:
                _native._noise_set_sodium_max(old)
            row[f"{path}_encrypt_ns"] = round(t_enc * 1e9)
            row[f"{path}_decrypt_ns"] = round(t_dec * 1e9)
        rows.append(row)
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
