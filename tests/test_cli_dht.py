"""``libp2p dht …`` and ``libp2p serve --dht`` as a user runs them: five DHT servers on loopback.

Every process is stopped through its own handle in ``finally`` (terminate, wait, kill) and every
wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from libp2p.identity.multiformats import CID, RAW, SHA2_256, multihash_digest
from tests.processes import read_line, stop
from tests.test_cli_node import (
    LOOPBACK,
    START_TIMEOUT,
    Node,
    _cli,
    _closed_port,
    _json,
    _other_peer_id,
    serve,
)

SERVERS = 5
TIMEOUT = "20"


def _cid(data: bytes) -> CID:
    return CID(1, RAW, multihash_digest(SHA2_256, data))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    tmp = tmp_path_factory.mktemp("dht")
    with ExitStack() as stack:
        first = stack.enter_context(serve(tmp, "--dht", "server", "--permissive"))
        nodes = [first]
        for _ in range(SERVERS - 1):
            nodes.append(stack.enter_context(
                serve(tmp, "--dht", "server", "--permissive", "--bootstrap", first.addr)
            ))
        yield nodes


def _dht(*args: str, boot: Node) -> subprocess.CompletedProcess[str]:
    return _cli("dht", *args, "--bootstrap", boot.addr, "--timeout", TIMEOUT)


@contextmanager
def _provide(tmp: Path, cid: str, boot: Node) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    stderr = tmp / f"provide-{time.monotonic_ns()}.err"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "libp2p", "dht", "provide", cid, "--bootstrap", boot.addr,
             "--listen", LOOPBACK, "--timeout", TIMEOUT],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
        )
    try:
        line = read_line(proc, START_TIMEOUT)
        assert line, f"provide exited ({proc.poll()}): {stderr.read_text()}"
        yield proc, json.loads(line)
    finally:
        stop(proc)


def test_serve_dht_keeps_its_json_line(servers: list[Node]) -> None:
    for node in servers:
        assert set(node.info) == {"peer_id", "multiaddrs"}


def test_find_peer(servers: list[Node]) -> None:
    target = servers[-1]
    out = _json(_dht("find-peer", target.peer_id, "--json", boot=servers[1]))
    assert out == {"peer_id": target.peer_id, "multiaddrs": [target.addr]}
    human = _dht("find-peer", target.peer_id, boot=servers[0])
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines() == [target.addr]


def test_a_network_on_its_own_protocol(tmp_path: Path) -> None:
    own = "/aiolibp2p-test/kad/1.0.0"
    with ExitStack() as stack:
        first = stack.enter_context(serve(tmp_path, "--dht", "server", "--dht-protocol", own))
        second = stack.enter_context(serve(tmp_path, "--dht", "server", "--dht-protocol", own,
                                           "--bootstrap", first.addr))
        out = _json(_dht("closest", "hex:00ff", "--json", "--protocol", own, boot=second))
        assert {p["peer_id"] for p in out["peers"]} == {first.peer_id, second.peer_id}
        # On /ipfs/kad/1.0.0 they are no DHT servers at all.
        other = _dht("closest", "hex:00ff", boot=first)
        assert other.returncode == 1 and "could not reach any bootstrap peer" in other.stderr, other.stderr
    bad = _cli("dht", "closest", "hex:00", "--bootstrap", first.addr, "--protocol", "kad")
    assert bad.returncode == 2 and "invalid protocol ID" in bad.stderr


def test_find_peer_unknown_exits_1(servers: list[Node]) -> None:
    proc = _dht("find-peer", _other_peer_id(), "--json", boot=servers[0])
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and "not found" in proc.stderr


def test_closest(servers: list[Node]) -> None:
    key = servers[2].peer_id
    out = _json(_dht("closest", key, "--json", boot=servers[0]))
    assert set(out) == {"key", "peers"}
    peers = {p["peer_id"]: p["multiaddrs"] for p in out["peers"]}
    assert peers == {n.peer_id: [n.addr] for n in servers}
    cid = _cid(b"closest").encode()
    out = _json(_dht("closest", cid, "--json", boot=servers[3]))
    assert out["key"] == _cid(b"closest").multihash.hex()
    assert len(out["peers"]) == SERVERS
    human = _dht("closest", "hex:00ff", boot=servers[0])
    assert human.returncode == 0, human.stderr
    assert sorted(human.stdout.split()) == sorted(n.peer_id for n in servers)


def test_put_get(servers: list[Node]) -> None:
    key = f"k{os.getpid()}"
    out = _json(_dht("put", f"/test/{key}", "hello dht", "--permissive", "--json", boot=servers[0]))
    assert out == {"key": f"/test/{key}".encode().hex(), "stored": SERVERS}
    out = _json(_dht("get", f"hex:{key.encode().hex()}", "--namespace", "test", "--json", boot=servers[4]))
    assert out == {"key": f"/test/{key}".encode().hex(), "value": "hello dht", "value_hex": b"hello dht".hex()}
    raw = _dht("get", f"/test/{key}", "--permissive", boot=servers[2])
    assert raw.returncode == 0 and raw.stdout == "hello dht\n", raw.stderr
    # the README's form: --namespace prefixes a plain-text key
    text = _dht("get", key, "--namespace", "test", boot=servers[3])
    assert text.returncode == 0 and text.stdout == "hello dht\n", text.stderr
    missing = _dht("get", "/test/nothing-here", "--permissive", boot=servers[1])
    assert missing.returncode == 1 and "no value" in missing.stderr


def test_provide_and_find_providers(servers: list[Node], tmp_path: Path) -> None:
    cid = _cid(f"content {os.getpid()}".encode())
    with _provide(tmp_path, cid.encode(), servers[1]) as (proc, announced):
        assert set(announced) == {"cid", "key", "peer_id", "multiaddrs", "peers"}
        assert announced["cid"] == cid.encode() and announced["key"] == cid.multihash.hex()
        assert announced["peers"] >= 1
        out = _json(_dht("find-providers", cid.encode(), "--json", "--count", "1", boot=servers[3]))
        assert out == {"cid": cid.encode(), "providers": [
            {"peer_id": announced["peer_id"], "multiaddrs": announced["multiaddrs"]}
        ]}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    none = _dht("find-providers", _cid(b"nobody has this").encode(), "--json", boot=servers[0])
    assert none.returncode == 1 and none.stdout == ""


@pytest.mark.parametrize("args", [
    ["closest", "not-a-key"],
    ["closest", "hex:zz"],
    ["find-peer", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"],
    ["find-providers", "12D3KooWnotacid"],
    ["get", "hex:00"],  # no namespace
    ["get", "/unknown/x"],
    ["put", "/test/x", "v"],  # /test without --permissive
])
def test_bad_input_exits_2(servers: list[Node], args: list[str]) -> None:
    proc = _dht(*args, boot=servers[0])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and proc.stderr.startswith(f"libp2p dht {args[0]}: ")
    if args[1].startswith("/test/"):
        assert "--permissive" in proc.stderr  # says what to do


def test_unreachable_bootstrap_exits_1(tmp_path: Path) -> None:
    addr = f"/ip4/127.0.0.1/tcp/{_closed_port()}/p2p/{_other_peer_id()}"
    proc = _cli("dht", "closest", "hex:00", "--bootstrap", addr, "--timeout", "5")
    assert proc.returncode == 1, proc.stderr
    assert "bootstrap" in proc.stderr
