"""What the listener's side of a Noise XX handshake costs in the sans-IO core, per handshake.

Run: ``.venv/bin/python benchmarks/noise_responder_cost.py [HANDSHAKES]`` (with each interpreter
to compare, e.g. another checkout's, interleaved; ``LIBP2P_NO_EXTENSIONS=1`` for the pure twins).

As ``libp2p serve`` answers ``benchmarks/suites/handshakes.py``'s dialers: a responder with one
reused ``StaticKey``, dialers with a fresh identity and static key each, yamux offered in the
handshake. Prints JSON:

* ``python_calls`` / ``c_calls``: Python-level and C-level calls the responder makes for one
  handshake (message 1 in, message 2 out, message 3 in, the event, ``transport()``), counted with
  ``sys.setprofile``: what the payload twin removes shows here, load or not;
* ``responder_us``: CPU microseconds per responder handshake (``time.process_time``), and
  ``payload_us`` of it the received payload (``NoiseHandshake._verify_payload`` and the peer ID):
  on a loaded machine compare only interleaved runs.
"""

from __future__ import annotations

import json
import sys
import time
from types import FrameType
from typing import Any

from libp2p._accel import IMPLEMENTATION
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.core import NoiseHandshake, StaticKey

MUXERS = ("/yamux/1.0.0",)


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 300
    identity = generate_key_pair()
    static = StaticKey()
    config = NoiseConfig()  # one per listener, as the Noise option passes it
    dialers = [NoiseHandshake(True, generate_key_pair(), muxers=MUXERS) for _ in range(count + 1)]
    calls = {"call": 0, "c_call": 0}

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event in calls:
            calls[event] += 1

    responder_s = 0.0
    payloads: list[tuple[bytes, bytes]] = []
    for n, dialer in enumerate(dialers):
        # The first handshake makes the host's signed payload (once per StaticKey): the second one
        # is counted, the others timed.
        counted = n == 1
        msg1 = dialer.data_to_send()
        start = time.process_time()
        if counted:
            sys.setprofile(profile)
        responder = NoiseHandshake(False, identity, muxers=MUXERS, static_key=static, config=config)
        responder.receive_data(msg1)
        msg2 = responder.data_to_send()
        if counted:
            sys.setprofile(None)
        responder_s += time.process_time() - start
        dialer.receive_data(msg2)
        msg3 = dialer.data_to_send()
        start = time.process_time()
        if counted:
            sys.setprofile(profile)
        responder.receive_data(msg3)
        event = responder.next_event()
        responder.transport()
        if counted:
            sys.setprofile(None)
        if n == 1:
            responder_s = 0.0  # the first two are not timed
        else:
            responder_s += time.process_time() - start
        assert event is not None
        payloads.append((dialer._payload(), dialer.static_public_key))
    start = time.process_time()
    for payload, remote_static in payloads:
        key, _ = NoiseHandshake._verify_payload(payload, remote_static)
        PeerId.from_public_key(key)
    payload_s = time.process_time() - start
    print(
        json.dumps(
            {
                "implementation": IMPLEMENTATION,
                "python_calls": calls["call"],
                "c_calls": calls["c_call"],
                "responder_us": round(responder_s / (count - 1) * 1e6, 1),
                "payload_us": round(payload_s / len(payloads) * 1e6, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
