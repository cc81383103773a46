"""The hole-punch scenario of tests/netns/test_nat_relay.py with go-libp2p and rust-libp2p in each
role (relay, listening peer, dialing peer), ours in the others, all speaking libp2p/test-plans'
hole-punch-interop contract (``peer hole-punch`` in interop/go and interop/rust,
``tests.netns.holepunch_client`` for ours) with a redis server on the public network: the relay
publishes its address, the listener behind NAT A reserves and publishes its peer ID, the dialer
behind NAT B dials it through the relay, DCUtR upgrades to a direct connection through both NATs
and the dialer prints ``{"rtt_to_holepunched_peer_millis": N}`` measured over it.

Skips locally where the testbed or a toolchain is missing; fails under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.netns.testbed import PEER_A_IP, RELAY_IP, ROUTER_A_IP, Process, Testbed, nat_testbed, require_testbed

REDIS_PORT = 6379
START_TIMEOUT = 60.0
DIAL_TIMEOUT = 120.0


def _ours() -> list[str]:
    return [sys.executable, "-m", "tests.netns.holepunch_client"]


def _go() -> list[str]:
    from tests.interop.go_peer import require_go_peer

    return [str(require_go_peer()), "hole-punch"]


def _rust() -> list[str]:
    from tests.interop.rust_peer import require_rust_peer

    return [str(require_rust_peer()), "hole-punch"]


PROGRAMS: dict[str, Callable[[], list[str]]] = {"ours": _ours, "go": _go, "rust": _rust}

# (relay, listener behind NAT A, dialer behind NAT B): each foreign one in each role, ours elsewhere
CASES = [
    ("ours", "ours", "ours"),
    ("go", "ours", "ours"), ("ours", "go", "ours"), ("ours", "ours", "go"),
    ("rust", "ours", "ours"), ("ours", "rust", "ours"), ("ours", "ours", "rust"),
]


def start_redis(bed: Testbed) -> Process:
    """redis-server on the relay's public address (the peers reach it through their NATs)."""
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    redis = bed.spawn_argv("relay", [exe, "--bind", RELAY_IP, "--port", str(REDIS_PORT), "--save", "",
                                     "--appendonly", "no", "--protected-mode", "no"], name="redis")
    deadline = time.monotonic() + 20
    while True:  # bounded: redis starts in well under a second
        if bed.sh("relay", "redis-cli", "-h", RELAY_IP, "-p", str(REDIS_PORT), "ping", check=False).stdout.strip() \
                == "PONG":
            return redis
        if time.monotonic() > deadline or redis.popen.poll() is not None:
            raise AssertionError(f"redis-server did not start: {redis.stderr()}")
        time.sleep(0.1)


def contract_env(mode: str, **extra: str) -> dict[str, str]:
    return {"MODE": mode, "TRANSPORT": "tcp", "REDIS_ADDR": f"{RELAY_IP}:{REDIS_PORT}",
            "RELAY_LISTEN_IP": RELAY_IP, **extra}


def hole_punch(bed: Testbed, relay: str, listener: str, dialer: str,
               relay_env: dict[str, str] | None = None) -> dict[str, object]:
    """Run the contract in ``bed``: the dialer's JSON result (AssertionError with every stderr if none)."""
    argv = {role: PROGRAMS[impl]() for role, impl in (("relay", relay), ("listen", listener), ("dial", dialer))}
    start_redis(bed)
    procs: list[Process] = []
    try:
        procs.append(bed.spawn_argv("relay", argv["relay"], f"relay-{relay}",
                                    contract_env("relay", **(relay_env or {}))))
        procs[-1].json_line(START_TIMEOUT)
        procs.append(bed.spawn_argv("peer-a", argv["listen"], f"listen-{listener}", contract_env("listen")))
        procs[-1].json_line(START_TIMEOUT)
        procs.append(bed.spawn_argv("peer-b", argv["dial"], f"dial-{dialer}", contract_env("dial")))
        return procs[-1].json_line(DIAL_TIMEOUT)
    except (AssertionError, json.JSONDecodeError) as exc:
        others = "\n".join(f"--- {p.name} stderr:\n{p.stderr()}" for p in procs)
        raise AssertionError(f"{exc}\n{others}") from None


@pytest.mark.parametrize(("relay", "listener", "dialer"), CASES, ids=["-".join(c) for c in CASES])
def test_hole_punch_interop(tmp_path: Path, relay: str, listener: str, dialer: str) -> None:
    require_testbed()
    argv_check = [PROGRAMS[impl] for impl in {relay, listener, dialer}]
    for build in argv_check:  # build (or skip) before the namespaces exist
        build()
    with nat_testbed(tmp_path) as bed:
        result = hole_punch(bed, relay, listener, dialer)
        direct_rtt_ms = bed.direct_rtt_ms
    # the direct connection reaches the listener's NAT mapping (router A), not the relay
    assert str(result["direct_addr"]).startswith(f"/ip4/{ROUTER_A_IP}/tcp/"), result
    assert "/p2p-circuit" not in str(result["direct_addr"]), result
    rtt = result["rtt_to_holepunched_peer_millis"]
    # measured over the direct path, so it waited out both routers' delayed links
    assert isinstance(rtt, (int, float)) and rtt >= direct_rtt_ms, result


PUBLIC_HOST_IP = "11.0.0.20"  # a second public host: an address on the internet bridge itself


@pytest.mark.parametrize("relay", ["go", "rust"])
def test_autonat_against_foreign_relay(tmp_path: Path, relay: str) -> None:
    """The foreign relay's AutoNAT v1 and v2 servers answer our client: private behind NAT A (the
    dial back dies at the router), public from the internet; v2 names the address it tried."""
    require_testbed()
    program = PROGRAMS[relay]()
    with nat_testbed(tmp_path) as bed:
        bed.sh("inet", "ip", "addr", "add", f"{PUBLIC_HOST_IP}/24", "dev", "br0")
        start_redis(bed)
        server = bed.spawn_argv("relay", program, f"relay-{relay}", contract_env("relay"))
        addr = server.json_line(START_TIMEOUT)["multiaddrs"][0]

        def ask(role: str, *args: str) -> dict[str, object]:
            out = bed.run(role, ["autonat", "--json", *args, addr])
            assert out.returncode == 0, out.stderr
            answer: dict[str, object] = json.loads(out.stdout)
            return answer

        natted = ask("peer-a", "--listen", f"/ip4/{PEER_A_IP}/tcp/4002")
        assert natted["status"] == "E_DIAL_ERROR" and natted["reachable"] is False, natted
        public = ask("inet", "--listen", f"/ip4/{PUBLIC_HOST_IP}/tcp/4002")
        assert public["status"] == "OK" and public["reachable"] is True, public
        natted = ask("peer-a", "--v2", "--listen", f"/ip4/{PEER_A_IP}/tcp/4003")
        assert natted["reachable"] is False and natted["dial_status"] == "E_DIAL_ERROR", natted
        # go picks our NAT mapping (the observed address); rust's server the first we list, our own
        # private address, which it cannot reach either
        assert str(natted["addr"]).startswith(f"/ip4/{ROUTER_A_IP}/tcp/") or natted["addr"] == f"/ip4/{PEER_A_IP}/tcp/4003", \
            natted
        public = ask("inet", "--v2", "--listen", f"/ip4/{PUBLIC_HOST_IP}/tcp/4003")
        assert public["reachable"] is True and public["addr"] == f"/ip4/{PUBLIC_HOST_IP}/tcp/4003", public
