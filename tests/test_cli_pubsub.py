"""``libp2p pubsub subscribe|publish``, ``libp2p chat`` and ``serve --pubsub`` as a user runs them,
on loopback. Every process is stopped through its own handle and every wait is bounded."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import read_line, stop
from tests.test_cli_node import START_TIMEOUT, Node, _cli, serve

TOPIC = "cli-topic"


def _wait_for_text(path: Path, text: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in {path}: {path.read_text()}")
        time.sleep(0.05)


@contextmanager
def _process(tmp: Path, name: str, *args: str, stdin: bool = False) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    stderr = tmp / f"{name}-{time.monotonic_ns()}.err"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "libp2p", *args], stdout=subprocess.PIPE, stderr=err,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, text=True,
        )
    try:
        yield proc, stderr
    finally:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        stop(proc)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with serve(tmp_path_factory.mktemp("pubsub"), "--pubsub", "gossipsub", "--subscribe", TOPIC) as n:
        yield n


def test_publish_reaches_a_subscriber_through_a_serve_node(relay: Node, tmp_path: Path) -> None:
    with _process(tmp_path, "sub", "pubsub", "subscribe", TOPIC, "--bootstrap", relay.addr, "--json", "-v") as (sub, err):
        _wait_for_text(err, "subscribed as")
        out = _cli("pubsub", "publish", TOPIC, "héllo pubsub", "--bootstrap", relay.addr, "--timeout", "20")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "published to 1 peer"
        line = json.loads(read_line(sub, 20))
        assert set(line) == {"topic", "from", "seqno", "data", "data_base64"}
        assert line["topic"] == TOPIC and line["data"] == "héllo pubsub"
        assert base64.b64decode(line["data_base64"]) == "héllo pubsub".encode()
        assert len(bytes.fromhex(line["seqno"])) == 8 and line["from"].startswith("12D3Koo")


def test_publish_json_and_timeout_without_peers(relay: Node) -> None:
    out = _cli("pubsub", "publish", TOPIC, "x", "--bootstrap", relay.addr, "--json", "--timeout", "20")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"topic": TOPIC, "peers": 1}
    lonely = _cli("pubsub", "publish", "nobody-here", "x", "--bootstrap", relay.addr, "--timeout", "1")
    assert lonely.returncode == 1 and "no peer on topic" in lonely.stderr


def test_serve_subscribe_needs_pubsub() -> None:
    out = _cli("serve", "--subscribe", TOPIC)
    assert out.returncode == 2 and "--subscribe needs --pubsub" in out.stderr


def test_three_terminal_chat(tmp_path: Path) -> None:
    topic = "chat-room"
    with _process(tmp_path, "alice", "chat", topic, "--nick", "alice", stdin=True) as (alice, _):
        a_info = json.loads(read_line(alice, START_TIMEOUT))
        assert set(a_info) == {"peer_id", "multiaddrs"}
        with _process(tmp_path, "bob", "chat", topic, "--nick", "bob", "--bootstrap", a_info["multiaddrs"][0],
                      stdin=True) as (bob, _):
            b_info = json.loads(read_line(bob, START_TIMEOUT))
            assert bob.stdin is not None and alice.stdin is not None
            bob.stdin.write("hello from bob\n")
            bob.stdin.flush()
            assert read_line(alice, 20) == "bob: hello from bob\n"
            alice.stdin.write("hi bob\n")
            alice.stdin.flush()
            assert read_line(bob, 20) == "alice: hi bob\n"
            # a third joins through bob only; alice hears it through bob's forwarding
            with _process(tmp_path, "carol", "chat", topic, "--nick", "carol", "--json",
                          "--bootstrap", b_info["multiaddrs"][0], stdin=True) as (carol, _):
                json.loads(read_line(carol, START_TIMEOUT))
                assert carol.stdin is not None
                carol.stdin.write("third here\n")
                carol.stdin.close()  # end of input: carol sends, then exits 0
                assert read_line(alice, 20) == "carol: third here\n"
                assert read_line(bob, 20) == "carol: third here\n"
                assert carol.wait(timeout=20) == 0
            bob.stdin.close()
            assert bob.wait(timeout=20) == 0
        alice.stdin.close()
        assert alice.wait(timeout=20) == 0
