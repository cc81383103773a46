"""Fuzz the Noise XX handshake core (``libp2p/security/noise/core.py``, sans-IO) with hostile
handshake messages.

    python fuzz/fuzz_noise_handshake.py -atheris_runs=1000001 -max_len=4096

The victim is a ``NoiseHandshake`` (initiator or responder, fixed keys). Byte 0 picks how the
peer misbehaves:

* raw: the rest of the input is fed as the peer's wire bytes, split anywhere;
* crypto-valid peer: a real ``HandshakeState`` plays the other side, so messages authenticate
  and the victim reaches payload parsing. The payload it sends is the fuzzed bytes as the
  ``NoiseHandshakePayload`` protobuf, or a correctly signed payload whose muxer list comes from
  the input, optionally with one byte of the framed message flipped; input that follows the
  last message is handed to the transport decryptor the victim returns.

Every outcome must be a completed handshake or a typed error, after which the core is failed
and refuses more input.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import chunks, outcome, run
    from libp2p._pure import varint_encode
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.pb import noise_pb2
    from libp2p.security.noise.core import STATIC_KEY_DOMAIN, HandshakeState, NoiseHandshake

_VICTIM_ID = Ed25519PrivateKey.from_seed(b"\x01" * 32)
_PEER_ID_KEY = Ed25519PrivateKey.from_seed(b"\x02" * 32)
_PEER_ID = PeerId.from_public_key(_PEER_ID_KEY.public_key)
_KEYS = {name: bytes([i]) * 32 for i, name in enumerate(("vs", "ve", "ps", "pe"), start=3)}
_PEER_STATIC_PUB = HandshakeState(True, _KEYS["ps"]).static_public_key
_PEER_SIG = _PEER_ID_KEY.sign(STATIC_KEY_DOMAIN + _PEER_STATIC_PUB)
_MUXERS = ("/yamux/1.0.0", "/mplex/6.7.0")


def _victim(initiator: bool, opts: int) -> NoiseHandshake:
    return NoiseHandshake(
        initiator,
        _VICTIM_ID,
        remote_peer_id=_PEER_ID if opts & 0x20 else None,
        muxers=_MUXERS[: (opts >> 6) % 3],
        static_key=_KEYS["vs"],
        ephemeral_key=_KEYS["ve"],
        now=0.0,
    )


def _feed(victim: NoiseHandshake, data: bytes) -> bool:
    """Feed; False once the victim failed (and check that it stays failed)."""
    kind, _ = outcome(victim.receive_data, data)
    if kind == "err":
        if outcome(victim.receive_data, b"\x00")[0] != "err" or victim.complete:
            raise AssertionError("a failed handshake accepted more input")
        if outcome(victim.transport)[0] != "err":
            raise AssertionError("a failed handshake handed out transport keys")
        return False
    return True


def _payload(mode: int, body: bytes) -> bytes:
    if mode == 0:
        return body
    pb = noise_pb2.NoiseHandshakePayload()
    pb.identity_key = _PEER_ID_KEY.public_key.marshal()
    pb.identity_sig = _PEER_SIG
    out = pb.SerializeToString()
    if body:
        # the muxer ids are written as raw bytes: they need not be UTF-8
        ext = b"".join(_field(2, m) for m in body.split(b"\n")[:8])
        out += _field(4, ext)
    return out


def _field(number: int, value: bytes) -> bytes:
    return varint_encode(number << 3 | 2) + varint_encode(len(value)) + value


def _frame(message: bytes, flip: int) -> bytes:
    framed = bytearray(len(message).to_bytes(2, "big") + message)
    if flip and flip <= len(framed):
        framed[flip - 1] ^= 0x40
    return bytes(framed)


def _with_peer(victim: NoiseHandshake, opts: int, flip: int, body: bytes) -> None:
    payload_body, _, trailing = body.partition(b"\xff\xfe")
    payload = _payload(opts & 1, payload_body)
    peer = HandshakeState(not victim.is_initiator, _KEYS["ps"], _KEYS["pe"])
    if victim.is_initiator:
        msg1 = victim.data_to_send()
        peer.read_message(msg1[2:])
        last = _frame(peer.write_message(payload), flip)
    else:
        if not _feed(victim, _frame(peer.write_message(b""), 0)):
            raise AssertionError("the responder refused a valid first message")
        msg2 = victim.data_to_send()
        peer.read_message(msg2[2:])
        last = _frame(peer.write_message(payload), flip)
    if not _feed(victim, last + trailing):
        return
    if not victim.complete:
        return  # the flipped length asks for more bytes
    event = victim.next_event()
    if event is None or event.remote_peer_id != _PEER_ID:
        raise AssertionError("completed without the peer's identity")
    if not all(isinstance(m, str) for m in event.remote_muxers):
        raise AssertionError(f"remote muxer ids are not all str: {event.remote_muxers!r}")
    if event.selected_muxer is not None and event.selected_muxer not in _MUXERS:
        raise AssertionError(f"selected a muxer we do not offer: {event.selected_muxer!r}")
    _, decryptor = victim.transport()
    outcome(decryptor.decrypt_available)


def test_one_input(data: bytes) -> None:
    if len(data) < 4:
        return
    opts, flip, body = data[0], data[1] | data[2] << 8, data[4:]
    initiator = bool(opts & 0x10)
    if opts & 0x0E == 0:
        victim = _victim(initiator, opts)
        for piece in chunks(body, data[3:4], 8):
            if not _feed(victim, piece):
                return
            victim.data_to_send()
        outcome(victim.handle_timer, 100.0)
        return
    victim = _victim(initiator, opts)
    _with_peer(victim, opts, flip if opts & 0x08 else 0, body)


if __name__ == "__main__":
    run(test_one_input)
