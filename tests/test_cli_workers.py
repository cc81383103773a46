"""``libp2p serve --workers N``: several processes share the TCP port under one identity.

Real processes on loopback, each stopped through its own handle; every wait is bounded. Which
worker holds a connection is read from /proc (the established sockets on the listen port that
each worker's file descriptors point to), so these tests run on Linux only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from libp2p import new_host
from libp2p.cli.workers import parse_workers, worker_count
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.peerstore import PeerInfo
from libp2p.protocols.ping.service import PingService
from tests.processes import read_line
from tests.test_cli_node import START_TIMEOUT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads worker sockets from /proc")

CONNECTIONS = 24  # all on one worker by chance: 2 * 2**-24


class Supervisor:
    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any], stderr: Path) -> None:
        self.proc = proc
        self.info = info
        self.stderr = stderr
        self.addr = Multiaddr(info["multiaddrs"][0])
        self.port = int(self.addr.value_for_protocol("tcp"))
        self.workers: list[int] = info["workers"]


@contextmanager
def supervisor(tmp: Path, *args: str) -> Iterator[Supervisor]:
    stderr = tmp / "serve.err"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "libp2p", "serve", "--listen", "/ip4/127.0.0.1/tcp/0", *args],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
        )
    workers: list[int] = []
    try:
        line = read_line(proc, START_TIMEOUT * 2)
        assert line, f"serve exited ({proc.poll()}): {stderr.read_text()}"
        info = json.loads(line)
        workers = info["workers"]
        yield Supervisor(proc, info, stderr)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid in workers:  # never leave a worker behind, whatever the supervisor did
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _established_on(port: int) -> dict[int, int]:
    """socket inode -> 1 for every established TCP connection whose local port is ``port``."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":
                found[int(fields[9])] = 1
    return found


def _connections_of(pid: int, port: int) -> int:
    established = _established_on(port)
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in established:
            count += 1
    return count


async def _ping_all(addr: Multiaddr, count: int) -> list[Any]:
    """``count`` clients (each its own host, so its own connection): connect, ping, and hold on."""
    info = PeerInfo.from_multiaddr(addr)
    hosts = [new_host() for _ in range(count)]
    for h in hosts:
        await h.start()
    for h in hosts:
        ping = h.service(PingService)
        assert ping is not None
        async with asyncio.timeout(30):
            await h.connect(info)
            rtts = await ping.ping(info.peer_id)
        assert len(rtts) == 1
    return hosts


def test_parse_workers() -> None:
    assert parse_workers("3") == 3
    assert parse_workers("auto") == 0 == parse_workers("0")
    assert worker_count(0) == (os.cpu_count() or 1)
    assert worker_count(2) == 2


async def test_two_workers_share_the_port_and_both_serve(tmp_path: Path) -> None:
    with supervisor(tmp_path, "--workers", "2") as sup:
        assert len(sup.workers) == 2 and len(set(sup.workers)) == 2
        assert all(_alive(pid) for pid in sup.workers)
        assert str(sup.addr).endswith("/p2p/" + sup.info["peer_id"])
        assert sup.port != 0
        hosts = await _ping_all(sup.addr, CONNECTIONS)
        try:
            per_worker = [_connections_of(pid, sup.port) for pid in sup.workers]
        finally:
            for h in hosts:
                await h.close()
        # every connection was accepted, secured and answered by one of the workers, and both took some
        assert sum(per_worker) == CONNECTIONS, per_worker
        assert all(n > 0 for n in per_worker), per_worker
        # the ready line came once: nothing more on stdout until the end
        sup.proc.send_signal(signal.SIGINT)
        assert sup.proc.wait(timeout=30) == 0, sup.stderr.read_text()
        assert sup.proc.stdout is not None
        assert sup.proc.stdout.read() == ""


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    with supervisor(tmp_path, "--workers", "2") as sup:
        sup.proc.send_signal(signal.SIGTERM)
        assert sup.proc.wait(timeout=30) == 0, sup.stderr.read_text()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in sup.workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in sup.workers)


async def test_a_dead_worker_is_reported_and_the_others_serve_on(tmp_path: Path) -> None:
    with supervisor(tmp_path, "--workers", "2") as sup:
        victim, survivor = sup.workers
        os.kill(victim, signal.SIGKILL)
        message = f"worker 0 (pid {victim}) exited with status -9; 1 of 2 still serving"
        deadline = time.monotonic() + 20
        while message not in sup.stderr.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert message in sup.stderr.read_text()
        hosts = await _ping_all(sup.addr, 4)  # the survivor takes every connection now
        try:
            assert _connections_of(survivor, sup.port) == 4
        finally:
            for h in hosts:
                await h.close()
        sup.proc.send_signal(signal.SIGINT)
        assert sup.proc.wait(timeout=30) == 1  # a worker failed during the run
        assert not _alive(survivor)


@pytest.mark.parametrize("option", [["--dht", "server"], ["--pubsub", "gossipsub"], ["--mdns"],
                                    ["--listen", "/ip4/127.0.0.1/tcp/0/ws"]])
def test_node_wide_options_are_refused(option: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "libp2p", "serve", "--workers", "2", *option],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "--workers" in proc.stderr


def test_same_identity_from_a_key_file(tmp_path: Path) -> None:
    key = generate_key_pair()
    (tmp_path / "key").write_bytes(key.marshal())
    with supervisor(tmp_path, "--workers", "2", "--key", str(tmp_path / "key")) as sup:
        assert sup.info["peer_id"] == str(PeerId.from_public_key(key.public_key))
