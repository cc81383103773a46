#!/usr/bin/env python3
"""aioquic's packet path alone: what one stream costs in the engine, with no sockets and no event loop.

Two sans-IO ``QuicConnection`` objects (made as the QUIC transport makes them: libp2p certificates,
ALPN ``libp2p``, the same flow-control windows) exchange datagrams in memory. After the handshake
the client sends ``--mib`` MiB on one stream; every ``datagrams_to_send`` / ``receive_datagram``
call is timed on its side. The result is the engine's ceiling on this machine: bytes per CPU-second
of the sending side and of the receiving side (a loopback transfer cannot beat either), to compare
with a whole QUIC connection (``benchmarks/compare.py --suite quic_tls``) and with TCP + TLS.

    .venv/bin/python benchmarks/quic_engine.py [--mib 32] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from aioquic.buffer import Buffer  # type: ignore[attr-defined]
from aioquic.quic import events as qe
from aioquic.quic.packet import pull_quic_header

from libp2p.identity.keys import Ed25519PrivateKey
from libp2p.transport.quic import QuicTransport
from libp2p.transport.quic._aioquic_hooks import new_quic_connection

CLIENT = ("127.0.0.1", 40001)
SERVER = ("127.0.0.1", 40002)
CHUNK = 64 * 1024
MIB = 1 << 20


DATAGRAM_SIZE: list[int | None] = [None]  # --datagram-size (None: the transport's, aioquic's 1200)


def _configuration(is_client: bool) -> Any:
    transport = QuicTransport()
    transport.bind(Ed25519PrivateKey.from_seed(os.urandom(32)))
    configuration = transport._configuration(is_client)
    if DATAGRAM_SIZE[0] is not None:
        configuration.max_datagram_size = DATAGRAM_SIZE[0]
    return configuration


def one_run(nbytes: int) -> dict[str, float]:
    clock = time.perf_counter
    client = new_quic_connection(verify=lambda chain: None, configuration=_configuration(True))
    client.connect(SERVER, now=clock())
    server = None
    send_cpu = recv_cpu = 0.0  # the client's work (sending) and the server's (receiving)
    received = 0
    stream_id = client.get_next_available_stream_id()
    queued = 0
    deadline = clock() + 300
    handshake = False
    while received < nbytes:
        if clock() > deadline:
            raise TimeoutError(f"stalled at {received} of {nbytes} bytes")
        if handshake and queued < nbytes and queued - received < 4 * MIB:  # as the transport's write high water
            t0 = time.process_time()
            client.send_stream_data(stream_id, bytes(CHUNK), end_stream=False)
            send_cpu += time.process_time() - t0
            queued += CHUNK
        t0 = time.process_time()
        out = client.datagrams_to_send(now=clock())
        send_cpu += time.process_time() - t0
        for data, _ in out:
            if server is None:
                header = pull_quic_header(Buffer(data=data), host_cid_length=8)
                server = new_quic_connection(verify=lambda chain: None, configuration=_configuration(False),
                                             original_destination_connection_id=header.destination_cid)
            t0 = time.process_time()
            server.receive_datagram(data, CLIENT, now=clock())
            while (event := server.next_event()) is not None:
                if isinstance(event, qe.StreamDataReceived):
                    received += len(event.data)
            recv_cpu += time.process_time() - t0
        if server is None:
            continue
        t0 = time.process_time()
        back = server.datagrams_to_send(now=clock())
        recv_cpu += time.process_time() - t0
        t0 = time.process_time()
        for data, _ in back:
            client.receive_datagram(data, SERVER, now=clock())
        while (event := client.next_event()) is not None:
            if isinstance(event, qe.HandshakeCompleted):
                handshake = True
        send_cpu += time.process_time() - t0
        if not out and not back:
            t0 = time.process_time()
            for conn in (client, server):
                timer = conn.get_timer()
                if timer is not None and timer <= clock():
                    conn.handle_timer(now=clock())
            send_cpu += time.process_time() - t0
    return {"bytes": nbytes, "sender_cpu_s": send_cpu, "receiver_cpu_s": recv_cpu,
            "sender_mb_per_cpu_s": nbytes / send_cpu / 1e6, "receiver_mb_per_cpu_s": nbytes / recv_cpu / 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--datagram-size", type=int, help="max_datagram_size (default: the transport's, 1200)")
    args = ap.parse_args(argv)
    DATAGRAM_SIZE[0] = args.datagram_size
    one_run(MIB)  # warm-up
    runs = [one_run(args.mib * MIB) for _ in range(args.repeat)]
    out = {
        "mib": args.mib, "datagram_size": args.datagram_size or 1200, "runs": runs, "load": os.getloadavg(),
        "sender_mb_per_cpu_s": statistics.median(r["sender_mb_per_cpu_s"] for r in runs),
        "receiver_mb_per_cpu_s": statistics.median(r["receiver_mb_per_cpu_s"] for r in runs),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"aioquic engine alone, {out['datagram_size']} B datagrams, {args.mib} MiB on one stream, median of "
              f"{args.repeat}: sender "
              f"{out['sender_mb_per_cpu_s']:.1f} MB per CPU-second, receiver {out['receiver_mb_per_cpu_s']:.1f} MB "
              f"per CPU-second (load average {out['load'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
