"""A NAT testbed in Linux network namespaces, as libp2p/test-plans' hole-punch-interop builds
with Docker Compose: an "internet" bridge, a public relay, and two peers each behind its own
router doing nftables masquerade (port-preserving, endpoint-independent mapping, as home routers
do) with a stateful firewall that drops unsolicited inbound traffic, and delay on the links as the
harness sets it (its ``testplans.ts``/``router/run.sh``/``generator.ts``): each router adds
``DELAY_MS`` = 100 ms of round trip (netem 50 ms on its WAN and on its LAN egress, so 50 ms each way
through it) and the relay 25 ms on its egress. A direct peer-to-peer round trip is then 200 ms,
a relayed one 250 ms.

```
        [relay 11.0.0.10]                 relay -> internet: +relay_delay_ms
                |
   +------- br0 (ns inet) --------+
   |                              |       router <-> internet: +router_delay_ms/2 each way
[router-a 11.0.0.1]       [router-b 11.0.0.2]       masquerade + stateful firewall
   | 10.1.0.1                     | 10.2.0.1
[peer-a 10.1.0.2]          [peer-b 10.2.0.2]
```

This kernel may lack ``sch_netem`` (6.18 here has no netem, fq or tbf), so the delayed links do
not use ``tc``: each is a pair of TAP devices, one in each namespace, between which one small
forwarder process (``tests/netns/delay_link.py``) copies frames after the one-way delay. The
router's end of its delayed link is its WAN side, so a hole punch's outgoing SYN opens the NAT
mapping before the delay, as with netem on the WAN egress, and the other side's SYN finds it there.

Everything lives in namespaces this module creates (named ``lp2p<pid>-<role>``, so concurrent
runs do not collide) and deletes: the root namespace is never touched. ``Testbed`` is a context
manager; every process it starts (``spawn``, and the link forwarder) is stopped through its own
handle when the block ends (SIGTERM, then SIGKILL, each bounded), before the namespaces go; the
TAP devices vanish with the forwarder.

``unavailable()`` says why the testbed cannot run here (not root, no ``ip``/``nft``, no
``/dev/net/tun``, namespaces not permitted); tests skip with that message locally and fail under
``CI=true``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Testbed", "Process", "nat_testbed", "unavailable", "require_testbed", "RELAY_IP", "ROUTER_A_IP", "ROUTER_B_IP",
           "PEER_A_IP", "PEER_B_IP"]

log = logging.getLogger("tests.netns")

# The "internet" uses an ordinary unicast range (it exists only inside these namespaces): go-libp2p
# hole-punches only from addresses it deems public, and it counts 198.18.0.0/15 (benchmarking) and
# the documentation ranges as unroutable.
RELAY_IP = "11.0.0.10"
ROUTER_A_IP = "11.0.0.1"
ROUTER_B_IP = "11.0.0.2"
PEER_A_IP = "10.1.0.2"
PEER_B_IP = "10.2.0.2"
REPO = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# test-plans hole-punch-interop: DELAY_MS=100 per router (half on each of its egresses), 25 ms on the relay's
ROUTER_DELAY_MS = 100
RELAY_DELAY_MS = 25
# a large MTU on every testbed link: fewer, bigger frames for the userspace link forwarder to copy
LINK_MTU = 65000
LINK_READY_TIMEOUT = 30.0


def _run(*cmd: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
                          input=input_text, stdin=None if input_text is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def unavailable() -> str | None:
    """Why the testbed cannot run here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "the netns testbed needs root (ip netns, veth, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 nftables)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun (the delayed links are TAP devices)"
    probe = f"lp2p{os.getpid()}-probe"
    try:
        made = _run("ip", "netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"cannot create a network namespace: {made.stderr.strip()}"
        nft = _run("ip", "netns", "exec", probe, "nft", "add", "table", "ip", "probe", check=False)
        if nft.returncode != 0:
            return f"nftables does not work in a namespace: {nft.stderr.strip()}"
    finally:
        _run("ip", "netns", "del", probe, check=False)
    return None


def require_testbed() -> None:
    """Skip (locally) or fail (``CI=true``) when the testbed cannot run."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"netns testbed unavailable in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Process:
    """A process in a namespace; its stdout lines are read by a thread into a queue."""

    name: str
    popen: subprocess.Popen[str]
    stderr_path: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def start_reader(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                self.lines.put(line)
            self.lines.put("")

        threading.Thread(target=pump, daemon=True, name=f"stdout {self.name}").start()

    def json_line(self, timeout: float) -> dict[str, Any]:
        """The next stdout line, parsed (AssertionError with stderr if none comes in time)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no line within {timeout} s; stderr: {self.stderr()}") from None
        if not line:
            raise AssertionError(f"{self.name} exited ({self.popen.poll()}); stderr: {self.stderr()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


class Testbed:
    """The topology above. ``router_delay_ms``: round trip each router adds (half each way, on its
    internet link); ``relay_delay_ms``: one-way delay on what the relay sends. Both 0: plain veth
    links, no forwarder. ``netem`` says whether the links run with delay."""

    __test__ = False  # not a test class, whatever its name

    ROLES = ("inet", "relay", "router-a", "router-b", "peer-a", "peer-b")

    def __init__(self, workdir: Path, router_delay_ms: float = ROUTER_DELAY_MS,
                 relay_delay_ms: float = RELAY_DELAY_MS) -> None:
        self.prefix = f"lp2p{os.getpid()}"
        self.workdir = workdir
        self.router_delay_ms = router_delay_ms
        self.relay_delay_ms = relay_delay_ms
        self.netem = False
        self.processes: list[Process] = []
        self._made: list[str] = []

    @property
    def direct_rtt_ms(self) -> float:
        """The least round trip between the two peers behind NAT (through both routers)."""
        return 2 * self.router_delay_ms

    @property
    def relayed_rtt_ms(self) -> float:
        """The least round trip between the two peers through the relay."""
        return 2 * self.router_delay_ms + 2 * self.relay_delay_ms

    @property
    def relay_rtt_ms(self) -> float:
        """The least round trip between a peer behind NAT and the relay."""
        return self.router_delay_ms + self.relay_delay_ms

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def sh(self, role: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.ns(role), *cmd, check=check)

    # --- building and tearing down -----------------------------------------------------------

    def __enter__(self) -> Testbed:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _veth(self, a_role: str, a_name: str, b_role: str, b_name: str) -> None:
        _run("ip", "link", "add", a_name, "netns", self.ns(a_role), "type", "veth",
             "peer", "name", b_name, "netns", self.ns(b_role))

    def _addr(self, role: str, dev: str, cidr: str) -> None:
        self.sh(role, "ip", "addr", "add", cidr, "dev", dev)
        self.sh(role, "ip", "link", "set", dev, "mtu", str(LINK_MTU), "up")

    def _delayed_links(self, links: Sequence[tuple[str, str, str, str, float, float]]) -> None:
        """Start the forwarder that makes ``links`` (role A, dev A, role B, dev B, ms A->B, ms B->A)
        and wait until every TAP device exists."""
        specs = [f"{self.ns(ra)},{da},{self.ns(rb)},{db},{ab:g},{ba:g}" for ra, da, rb, db, ab, ba in links]
        stderr_path = self.workdir / "delay-link.err"
        with open(stderr_path, "w") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "tests.netns.delay_link", *(f"--link={s}" for s in specs)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
            )
        process = Process("delay-link", popen, stderr_path)
        self.processes.append(process)
        process.start_reader()
        process.json_line(LINK_READY_TIMEOUT)
        self.netem = True

    def _build(self) -> None:
        for role in self.ROLES:
            _run("ip", "netns", "add", self.ns(role))
            self._made.append(role)
            self.sh(role, "ip", "link", "set", "lo", "up")
        # the internet: a bridge in its own namespace, one port per public host
        self.sh("inet", "ip", "link", "add", "br0", "type", "bridge")
        self.sh("inet", "ip", "link", "set", "br0", "up")
        public = (("relay", "prelay", RELAY_IP), ("router-a", "pra", ROUTER_A_IP), ("router-b", "prb", ROUTER_B_IP))
        if self.router_delay_ms or self.relay_delay_ms:
            half = self.router_delay_ms / 2
            self._delayed_links([("relay", "wan", "inet", "prelay", self.relay_delay_ms, 0),
                                 ("router-a", "wan", "inet", "pra", half, half),
                                 ("router-b", "wan", "inet", "prb", half, half)])
        else:
            for role, port, _ in public:
                self._veth(role, "wan", "inet", port)
        for role, port, ip in public:
            self.sh("inet", "ip", "link", "set", port, "master", "br0")
            self.sh("inet", "ip", "link", "set", port, "mtu", str(LINK_MTU), "up")
            self._addr(role, "wan", f"{ip}/24")
        # the two home networks
        for side, lan in (("a", "10.1.0"), ("b", "10.2.0")):
            router, peer = f"router-{side}", f"peer-{side}"
            self._veth(router, "lan", peer, "eth0")
            self._addr(router, "lan", f"{lan}.1/24")
            self._addr(peer, "eth0", f"{lan}.2/24")
            self.sh(peer, "ip", "route", "add", "default", "via", f"{lan}.1")
            self.sh(router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
            self._nat(router)

    def _nat(self, router: str) -> None:
        # Masquerade keeps the source port when it is free and reuses one mapping for every
        # destination (endpoint-independent mapping); the input and forward chains are the router's
        # stateful firewall: from the internet only replies pass, the rest is dropped silently (no
        # RST, as home routers do: a hole punch's early SYN must not kill the other side's).
        rules = """
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
table ip filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname { "lo", "lan" } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
  }
}
"""
        proc = _run("ip", "netns", "exec", self.ns(router), "nft", "-f", "-", input_text=rules, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"nft in {router}: {proc.stderr.strip()}")

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception:  # noqa: BLE001 - stop the others and remove the namespaces anyway
                log.exception("stopping %s", process.name)
        self.processes.clear()
        for role in reversed(self._made):
            _run("ip", "netns", "del", self.ns(role), check=False)
        self._made.clear()

    # --- processes -------------------------------------------------------------------------------

    def spawn(self, role: str, args: Sequence[str], name: str | None = None, module: str = "libp2p") -> Process:
        """Start ``python -m MODULE ARGS`` in ``role``'s namespace (stopped by ``close``)."""
        name = name or role
        stderr_path = self.workdir / f"{name}.err"
        with open(stderr_path, "w") as err:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(role), sys.executable, "-m", module, *args],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
            )
        process = Process(name, popen, stderr_path)
        self.processes.append(process)
        process.start_reader()
        return process

    def spawn_argv(self, role: str, argv: Sequence[str], name: str, env: Mapping[str, str] | None = None) -> Process:
        """Start any program (``argv``, with ``env`` added to ours) in ``role``'s namespace (stopped by ``close``)."""
        stderr_path = self.workdir / f"{name}.err"
        with open(stderr_path, "w") as err:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(role), *argv],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
                env={**os.environ, **(env or {})},
            )
        process = Process(name, popen, stderr_path)
        self.processes.append(process)
        process.start_reader()
        return process

    def run(self, role: str, args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``python -m libp2p ARGS`` in ``role``'s namespace to its end (bounded)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(role), sys.executable, "-m", "libp2p", *args],
            capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )


@contextmanager
def nat_testbed(workdir: Path, router_delay_ms: float = ROUTER_DELAY_MS,
                relay_delay_ms: float = RELAY_DELAY_MS) -> Iterator[Testbed]:
    require_testbed()
    with Testbed(workdir, router_delay_ms, relay_delay_ms) as bed:
        yield bed
