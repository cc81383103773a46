"""The testbed's links run with the hole-punch harness' delays (tests/netns/testbed.py): a TCP
handshake between a peer behind NAT and the relay takes at least the round trip the delayed links
add (router_delay_ms + relay_delay_ms: every frame waits its delay in the link forwarder, so this
lower bound holds however loaded the machine), and closing the testbed leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.netns.testbed import PEER_A_IP, PEER_B_IP, RELAY_IP, nat_testbed

PORT = 4500
CONNECTS = 3

ACCEPTOR = f"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(({RELAY_IP!r}, {PORT}))
s.listen()
s.settimeout(60)
print('{{"listening": true}}', flush=True)
while True:
    conn, _ = s.accept()
    conn.close()
"""

CONNECTOR = f"""
import json, socket, time
rtts = []
for _ in range({CONNECTS}):
    start = time.monotonic()
    with socket.create_connection(({RELAY_IP!r}, {PORT}), timeout=10):
        rtts.append((time.monotonic() - start) * 1000)
print(json.dumps(rtts))
"""


def test_a_handshake_through_a_nat_waits_for_the_link_delays(tmp_path: Path) -> None:
    with nat_testbed(tmp_path) as bed:
        assert bed.netem
        assert bed.relay_rtt_ms == 125  # test-plans: 100 ms through a router, 25 ms out of the relay
        bed.spawn_argv("relay", [sys.executable, "-c", ACCEPTOR], "acceptor").json_line(30)
        for role in ("peer-a", "peer-b"):
            out = bed.sh(role, sys.executable, "-c", CONNECTOR)
            rtts = [float(x) for x in json.loads(out.stdout)]
            assert len(rtts) == CONNECTS
            assert min(rtts) >= bed.relay_rtt_ms, (role, rtts)
        forwarder = bed.processes[0]
        assert forwarder.name == "delay-link" and forwarder.popen.poll() is None
        names = [bed.ns(role) for role in bed.ROLES]
    # stopped by its handle, its TAP devices gone with it and the namespaces removed
    assert forwarder.popen.returncode is not None
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(name in listed.split() for name in names), listed


def test_without_delay_the_links_are_plain_veth(tmp_path: Path) -> None:
    with nat_testbed(tmp_path, router_delay_ms=0, relay_delay_ms=0) as bed:
        assert not bed.netem and not bed.processes
        link = bed.sh("router-a", "ip", "-d", "link", "show", "wan").stdout
        assert "veth" in link
        for role, ip in (("peer-a", PEER_A_IP), ("peer-b", PEER_B_IP)):
            assert ip in bed.sh(role, "ip", "addr", "show", "eth0").stdout
