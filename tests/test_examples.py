"""The examples in examples/ run as the README says (one command each), and do what they say."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import stop

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 120


def _run(name: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, input=stdin)


@contextmanager
def _server(name: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``name --listen``; yield it and the first address it prints; stop it by its handle."""
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), "--listen", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert "/p2p/" in address, (address, proc.stderr.read() if proc.poll() is not None else "")
        yield proc, address
    finally:
        stop(proc)


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The lines ``proc`` prints, read by a daemon thread (None at its end), so that a test waits for
    each one with a deadline instead of blocking on a silent process."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_every_example_is_in_the_readme() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    for example in sorted(EXAMPLES.glob("*.py")):
        assert f"python examples/{example.name}" in readme, example.name  # and so runnable as shown


def test_echo_in_one_process() -> None:
    proc = _run("echo.py", "--message", "ping pong")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "sent 'ping pong', the server echoed 'ping pong'"


def test_echo_server_and_client() -> None:
    with _server("echo.py") as (_, address):
        proc = _run("echo.py", address, "--message", "across processes")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "across processes\n"


def test_chat_demo() -> None:
    proc = _run("chat.py", "--demo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["alice got: hello, I am bob", "bob got:   nice to meet you, bob"]


def test_chat_between_two_processes() -> None:
    with _server("chat.py") as (listener, address):
        proc = _run("chat.py", address, stdin="hi there\nsecond line\n")
        assert proc.returncode == 0, proc.stderr
        assert listener.stdin is not None and listener.stdout is not None
        assert listener.stdout.readline().strip().endswith("joined")
        assert listener.stdout.readline().strip().endswith("> hi there")
        assert listener.stdout.readline().strip().endswith("> second line")
        assert listener.stdout.readline().strip() == "(the peer left)"


def test_pubsub_chat_demo() -> None:
    proc = _run("pubsub_chat.py", "--demo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["alice got: hello, I am bob", "bob got:   nice to meet you, bob"]


def test_pubsub_chat_between_two_processes() -> None:
    with _server("pubsub_chat.py") as (listener, address):
        lines = _lines_of(listener)
        proc = _run("pubsub_chat.py", address, stdin="hi there\nsecond line\n")
        assert proc.returncode == 0, proc.stderr
        assert f"connected to {address}" in proc.stdout
        joined, first, second = (lines.get(timeout=TIMEOUT) for _ in range(3))
        assert joined is not None and joined.endswith(" joined"), joined
        dialer = joined.removesuffix(" joined")[-6:]
        assert (first, second) == (f"{dialer}> hi there", f"{dialer}> second line")


def test_dht_example() -> None:
    proc = _run("dht.py", "--nodes", "5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("put /greeting/world = 'hello' on ")
    assert lines[1] == "get /greeting/world -> 'hello, world'"  # the custom validator's choice
    assert lines[2].startswith("refused an invalid greeting") and "UTF-8" in lines[2]
    assert "providers found: ['" in proc.stdout and "pinged the provider" in proc.stdout


def test_probe_example() -> None:
    proc = _run("probe.py", "--count", "2")
    assert proc.returncode == 0, proc.stderr
    assert "agent:       aiolibp2p/" in proc.stdout and "/ipfs/ping/1.0.0" in proc.stdout
    assert proc.stdout.count(" ms") == 2


@pytest.mark.parametrize("name", ["echo.py", "chat.py", "pubsub_chat.py", "dht.py", "probe.py"])
def test_help(name: str) -> None:
    proc = _run(name, "--help")
    assert proc.returncode == 0 and "python examples/" in proc.stdout
