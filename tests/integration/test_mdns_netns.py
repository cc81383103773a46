"""mDNS discovery between real processes in network namespaces this test creates and removes:
two namespaces on a bridge (in a third namespace) that carries multicast, no bootstrap address.

Needs root and ``ip`` (iproute2): skipped locally with a message when namespaces cannot be
created, failed under CI=true. Every process is stopped by its own handle; the namespaces are
deleted in ``finally``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.interop.peer_program import in_ci

WAIT = 30.0  # seconds allowed for discovery and the dial


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _need_namespaces() -> None:
    reason = None
    if shutil.which("ip") is None:
        reason = "iproute2 (`ip`) is not installed"
    elif os.geteuid() != 0:
        reason = "creating network namespaces needs root"
    if reason is not None:
        if in_ci():
            pytest.fail(f"{reason} (CI=true: .ci/run runs as root and installs iproute2)")
        pytest.skip(reason)


@contextmanager
def bridged_namespaces() -> Iterator[tuple[str, str]]:
    """Namespaces a and b, each with one veth (10.231.0.1 and .2/24) on a bridge in namespace br."""
    _need_namespaces()
    tag = f"mdns{os.getpid() % 100000}"
    br, a, b = f"{tag}-br", f"{tag}-a", f"{tag}-b"
    made: list[str] = []
    try:
        try:
            for ns in (br, a, b):
                _ip("netns", "add", ns)
                made.append(ns)
            _ip("-n", br, "link", "add", "br0", "type", "bridge")
            _ip("-n", br, "link", "set", "br0", "up")
            for i, ns in enumerate((a, b), start=1):
                _ip("-n", br, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", br, "link", "set", f"p{i}", "master", "br0")
                _ip("-n", br, "link", "set", f"p{i}", "up")
                _ip("-n", ns, "addr", "add", f"10.231.0.{i}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "multicast", "on")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        except (subprocess.CalledProcessError, OSError) as exc:
            detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) \
                else str(exc)
            if in_ci():
                pytest.fail(f"cannot set up network namespaces: {detail}")
            pytest.skip(f"cannot set up network namespaces: {detail}")
        yield a, b
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20, check=False)


class Proc:
    def __init__(self, ns: str, argv: list[str], log: Path, stdin: bool = False) -> None:
        self.log = log
        self._err = open(log, "w")  # closed in stop()
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv],
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._err, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # serve prints one JSON line once listening
        if not line:
            self.stop()
            raise AssertionError(f"{argv[0]} exited: {log.read_text()}")
        self.first_line = line

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


def _wait_for(pattern: str, *procs: Proc) -> None:
    """Until every process's log matches ``pattern`` (bounded by WAIT; polled every 0.1 s)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if all(re.search(pattern, p.text()) for p in procs):
            return
        if any(p.proc.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    logs = "\n---\n".join(p.text()[-3000:] for p in procs)
    raise AssertionError(f"no {pattern!r} in every log within {WAIT} s:\n{logs}")


def _serve(ns: str, log: Path, listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/tcp/0/ws")) -> Proc:
    return Proc(ns, [sys.executable, "-m", "libp2p", "serve", "--mdns", "-v",
                     *(arg for addr in listen for arg in ("--listen", addr))], log)


_BOGUS = r"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hdr = lambda an: struct.pack("!HHHHHH", 0, 0x8400, 0, an, 0, 0)
for d in [b"", b"\x00" * 11, hdr(1) + b"\xc0\x0c", hdr(60000), b"\x00" * 9001,
          hdr(1) + b"\x04_p2p\x04_udp\x05local\x00" + struct.pack("!HHIH", 12, 1, 120, 900)]:
    s.sendto(d, ("224.0.0.251", 5353))
"""


def test_two_of_our_nodes_find_each_other_by_mdns(tmp_path: Path) -> None:
    import json

    with bridged_namespaces() as (a, b):
        first = _serve(a, tmp_path / "a.log", listen=())  # serve --mdns alone listens on 0.0.0.0
        try:
            # bogus and oversized mDNS datagrams on the link first: dropped, nothing disturbed
            subprocess.run(["ip", "netns", "exec", b, sys.executable, "-c", _BOGUS], check=True, timeout=30,
                           capture_output=True)
            second = _serve(b, tmp_path / "b.log")
            try:
                id_a = json.loads(first.first_line)["peer_id"]
                id_b = json.loads(second.first_line)["peer_id"]
                _wait_for(f"mDNS: discovered {id_b} at .*10\\.231\\.0\\.2", first)
                _wait_for(f"mDNS: discovered {id_a} at .*10\\.231\\.0\\.1", second)
                # both announced their ws address too
                assert re.search(r"10\.231\.0\.2/tcp/\d+/ws", first.text())
                # and one of them dialled the other (both may)
                deadline = time.monotonic() + WAIT
                while time.monotonic() < deadline and not (
                    f"mDNS: connected to {id_b}" in first.text() or f"mDNS: connected to {id_a}" in second.text()
                ):
                    time.sleep(0.1)
                assert f"mDNS: connected to {id_b}" in first.text() or f"mDNS: connected to {id_a}" in second.text()
            finally:
                second.stop()
        finally:
            first.stop()


def _chat(ns: str, nick: str, log: Path) -> Proc:
    # no --listen and no --bootstrap: with --mdns, chat listens on 0.0.0.0 and finds its peers itself
    return Proc(ns, [sys.executable, "-m", "libp2p", "chat", "mdns-room", "--mdns", "--nick", nick, "-v",
                     "--timeout", str(WAIT)], log, stdin=True)


def _say(proc: Proc, line: str) -> None:
    assert proc.proc.stdin is not None
    proc.proc.stdin.write(line + "\n")
    proc.proc.stdin.flush()


def test_two_chat_processes_find_each_other_by_mdns_and_chat(tmp_path: Path) -> None:
    import json

    from tests.processes import read_line
    with bridged_namespaces() as (a, b):
        alice = _chat(a, "alice", tmp_path / "alice.log")
        try:
            bob = _chat(b, "bob", tmp_path / "bob.log")
            try:
                id_a = json.loads(alice.first_line)["peer_id"]
                id_b = json.loads(bob.first_line)["peer_id"]
                _wait_for(f"mDNS: discovered {id_b} at .*10\\.231\\.0\\.2", alice)
                _wait_for(f"mDNS: discovered {id_a} at .*10\\.231\\.0\\.1", bob)
                # a line typed before the two share the topic waits (up to --timeout) for a peer on it
                _say(alice, "hello over mdns")
                assert read_line(bob.proc, WAIT) == "alice: hello over mdns\n"
                _say(bob, "hi alice")
                assert read_line(alice.proc, WAIT) == "bob: hi alice\n"
                assert bob.proc.stdin is not None
                bob.proc.stdin.close()  # end of input: chat exits 0
                assert bob.proc.wait(timeout=WAIT) == 0
            finally:
                bob.stop()
        finally:
            alice.stop()


def _ours_and_a_foreign_node_find_each_other(tmp_path: Path, name: str, exe: Path) -> None:
    """Ours serves in one namespace and the foreign peer program (``listen --mdns``) in the other:
    each logs the other's discovery at its own namespace's address, and the two get connected
    (each dials what it finds unless already connected)."""
    import json

    with bridged_namespaces() as (a, b):
        ours = _serve(a, tmp_path / "ours.log")
        try:
            foreign = Proc(b, [str(exe), "listen", "--mdns", "--ignore-stdin", "--listen", "/ip4/0.0.0.0/tcp/0"],
                           tmp_path / f"{name}.log")
            try:
                our_id = json.loads(ours.first_line)["peer_id"]
                foreign_id = json.loads(foreign.first_line)["peer_id"]
                _wait_for(f"mDNS: discovered {foreign_id} at .*10\\.231\\.0\\.2", ours)
                _wait_for(f"mdns: discovered {our_id} at /ip4/10\\.231\\.0\\.1/", foreign)
                # Whichever side discovers the other first dials it; the other then finds it
                # connected and does not dial. Ours logs its mDNS dial; go logs its mDNS dial; the
                # rust peer logs every connection it makes ("connection N outbound <peer> via ...").
                ours_dialed = f"mDNS: connected to {foreign_id}"
                foreign_dialed = re.compile(f"mdns: connected to {our_id}|connection \\S+ outbound {our_id} via")

                def connected() -> bool:
                    return ours_dialed in ours.text() or foreign_dialed.search(foreign.text()) is not None

                deadline = time.monotonic() + WAIT
                while time.monotonic() < deadline and not connected():
                    time.sleep(0.1)
                assert connected()
            finally:
                foreign.stop()
        finally:
            ours.stop()


def test_ours_and_a_rust_libp2p_node_find_each_other_by_mdns(tmp_path: Path) -> None:
    from tests.interop.rust_peer import require_rust_peer

    rust_exe = require_rust_peer()  # skips without cargo (fails under CI=true)
    _ours_and_a_foreign_node_find_each_other(tmp_path, "rust", rust_exe)


def test_ours_and_a_go_libp2p_node_find_each_other_by_mdns(tmp_path: Path) -> None:
    from tests.interop.go_peer import require_go_peer

    go_exe = require_go_peer()  # skips without go (fails under CI=true)
    _ours_and_a_foreign_node_find_each_other(tmp_path, "go", go_exe)
