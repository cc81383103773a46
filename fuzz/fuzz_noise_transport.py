"""Fuzz Noise transport messages: the ``NoiseDecryptor`` twins through both of their paths
(``decrypt`` and ``feed``/``decrypt_available``), split anywhere.

    python fuzz/fuzz_noise_transport.py -atheris_runs=1000001 -max_len=4096

Byte 0 bit 0 clear: the rest is raw wire bytes. Set: the rest is cut into plaintexts that the
``NoiseEncryptor`` twins encrypt (they must produce the same bytes), then bytes 1..2 say where
one byte is flipped (0: none) and byte 3 where the stream is truncated (0: not), so
authentication, not only framing, is exercised. Both twins and both paths must give the same
plaintexts and the same error; an untouched stream must give back exactly what was encrypted.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import TWINS, TwinMismatch, chunks, run, same, trace

_KEY = bytes(range(32))


def _decrypt(twin, pieces: list[bytes], max_frame: int, buffered: bool):
    def step(out: list) -> None:
        decryptor = twin.NoiseDecryptor(_KEY, 0, max_frame)
        for piece in pieces:
            if buffered:
                decryptor.feed(piece)
                out.extend(decryptor.decrypt_available())
            else:
                out.extend(decryptor.decrypt(piece))
        out.append(decryptor.buffered)

    return trace(step)


def _encrypt(plaintexts: list[bytes]) -> bytearray:
    encryptors = [twin.NoiseEncryptor(_KEY) for twin in TWINS]
    wire = bytearray()
    for p in plaintexts:
        messages = {e.encrypt(p) for e in encryptors}
        if len(messages) != 1:
            raise TwinMismatch("the encryptor twins produced different messages")
        wire += messages.pop()
    return wire


def test_one_input(data: bytes) -> None:
    if len(data) < 6:
        return
    ctl, flip, cut, sizes, body = data[0], data[1] | data[2] << 8, data[3], data[4:6], data[6:]
    max_frame = 65535 if ctl & 2 else 16 + data[4] * 16
    expected = None
    if ctl & 1:
        plaintexts = list(chunks(body, sizes, 16))
        wire = _encrypt(plaintexts)
        if flip and flip <= len(wire):
            wire[flip - 1] ^= 1 + (ctl >> 2)
        elif cut:
            del wire[len(wire) * cut // 256 :]
        elif max_frame == 65535:
            expected = plaintexts
        body = bytes(wire)
    pieces = list(chunks(body, sizes[::-1]))
    direct = same(lambda t: _decrypt(t, pieces, max_frame, False))
    buffered = same(lambda t: _decrypt(t, pieces, max_frame, True))
    if direct != buffered:
        raise AssertionError(f"decrypt() and feed() paths differ: {direct} != {buffered}")
    if expected is not None:
        out, error = direct[1]
        if error is not None or out != [*expected, 0]:
            raise AssertionError("an untouched stream did not decrypt to its plaintexts")


if __name__ == "__main__":
    run(test_one_input)
