"""Fuzz signed envelopes and peer records: ``SignedEnvelope.open`` / ``open_typed``,
``PeerRecord.unmarshal`` and ``consume_peer_record``.

    python fuzz/fuzz_envelope.py -atheris_runs=1000001 -max_len=4096

Byte 0 picks the decoder. Mode 3 seals the fuzzed bytes as the payload of a valid envelope
(fixed Ed25519 key), so the record decoder behind a good signature is reached too.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["libp2p"]):
    from _common import outcome, run
    from libp2p.identity.envelope import SignedEnvelope
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.identity.peer_id import PeerId
    from libp2p.identity.peer_record import (
        PEER_RECORD_DOMAIN,
        PEER_RECORD_PAYLOAD_TYPE,
        PeerRecord,
        consume_peer_record,
    )

_KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
_PEER = PeerId.from_public_key(_KEY.public_key)


def _check_record(record: PeerRecord) -> None:
    if PeerRecord.unmarshal(record.marshal()) != record:
        raise AssertionError("peer record round trip failed")
    repr(record)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        kind, env = outcome(SignedEnvelope.open, body, PEER_RECORD_DOMAIN)
        if kind == "ok" and SignedEnvelope.open(env.marshal(), PEER_RECORD_DOMAIN) != env:
            raise AssertionError("envelope round trip failed")
    elif mode == 1:
        kind, record = outcome(PeerRecord.unmarshal, body)
        if kind == "ok":
            _check_record(record)
    elif mode == 2:
        for legacy in (False, True):
            outcome(lambda: consume_peer_record(body, legacy=legacy))
    else:
        sealed = SignedEnvelope.seal(_KEY, PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, body).marshal()
        kind, result = outcome(consume_peer_record, sealed)
        if kind == "ok":
            env, record = result
            if record.peer_id != _PEER:
                raise AssertionError("accepted a record that names another peer")
            _check_record(record)


if __name__ == "__main__":
    run(test_one_input)
