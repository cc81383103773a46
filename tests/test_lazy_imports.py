"""A command loads only what it uses: ``import libp2p``, ``libp2p --version`` and ``libp2p ping``
must not import the optional stacks (QUIC, WebSocket, pubsub, the DHT, relay, TLS), and a whole
``ping -c 1`` none of what only other key types, other protocols or the CLI's options need.

Behavioural: each case runs in a fresh interpreter and reports ``sys.modules``; no timing. Every
process is stopped through its own handle and every wait is bounded."""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.processes import read_line, stop

# Never needed by the cases below; each costs tens of ms to import.
OPTIONAL = (
    "aioquic",
    "websockets",
    "OpenSSL",
    "coincurve",
    "libp2p.protocols.pubsub",
    "libp2p.protocols.kad",
    "libp2p.protocols.relay",
    "libp2p.transport.quic",
    "libp2p.security.tls",
    "libp2p.cli.dht",
    "libp2p.cli.pubsub",
)

# Not needed to print the version either: keys, protobuf, the host and its connection stack.
STACK = ("google.protobuf", "nacl", "libp2p.identity.keys", "libp2p.host", "libp2p.multiaddr", "asyncio")

# Not needed by a whole `libp2p ping -c 1` either: protobuf's runtime (identify, the signed peer
# record and the Noise payload are encoded by libp2p.pb.wire), pyca/cryptography's key
# serialisation (ECDSA/RSA keys only), and stdlib modules only other paths use.
PING_NEVER = (
    "google.protobuf",
    "libp2p.pb.identify_pb2",
    "libp2p.pb.noise_pb2",
    "libp2p.pb.envelope_pb2",
    "libp2p.pb.peer_record_pb2",
    "libp2p.pb.crypto_pb2",
    "cryptography.hazmat.primitives.serialization",
    "cryptography.hazmat.primitives.asymmetric",
    "libp2p.protocols.autonat",
    "libp2p.protocols.autonatv2",
    "libp2p.protocols.dcutr",
    "libp2p.discovery",
    "libp2p.cli.serve",
    "libp2p.cli.perf",
    "statistics",
    "platform",
    "shutil",
    "json",
)

# The report is made before json is imported for it.
_REPORT = "import sys; _m = sorted(sys.modules); import json; print(json.dumps(_m))"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\n{_REPORT}"], capture_output=True, text=True,
                         timeout=120, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return set(loaded)


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_import_libp2p_loads_neither_optional_stacks_nor_the_host() -> None:
    modules = _modules_after("import libp2p")
    assert _loaded(modules, OPTIONAL + STACK) == []


def test_public_names_still_load_on_first_use() -> None:
    modules = _modules_after(
        "import libp2p\n"
        "from libp2p import IMPLEMENTATION, Multiaddr, PeerId, generate_key_pair, new_host\n"
        "assert IMPLEMENTATION in ('cython', 'python')\n"
        "assert str(Multiaddr('/ip4/127.0.0.1/tcp/1')) == '/ip4/127.0.0.1/tcp/1'\n"
        "assert PeerId.from_public_key(generate_key_pair().public_key)"
    )
    assert "libp2p.node" in modules
    assert _loaded(modules, OPTIONAL) == []


def test_every_public_name_resolves() -> None:
    import libp2p

    missing = [name for name in libp2p.__all__ if getattr(libp2p, name, None) is None]
    assert missing == []
    assert set(libp2p.__all__) <= set(dir(libp2p))


def test_version_command_loads_only_the_version() -> None:
    modules = _modules_after("from libp2p.cli import main\nassert main(['--version']) == 0")
    assert _loaded(modules, OPTIONAL + STACK) == []
    # no other subcommand's module either
    assert _loaded(modules, tuple(f"libp2p.cli.{m}" for m in ("serve", "ping", "perf", "identify", "interop"))) == []


def test_ping_command_loads_no_optional_stack() -> None:
    # A dial that is refused at once: the whole ping path runs up to the dial.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        modules = _modules_after(
            "from libp2p import PeerId, generate_key_pair\n"
            "from libp2p.cli import main\n"
            "peer = PeerId.from_public_key(generate_key_pair().public_key)\n"
            f"status = main(['ping', '-c', '1', '--timeout', '5', '/ip4/127.0.0.1/tcp/{port}/p2p/' + str(peer)])\n"
            "assert status == 1, status"
        )
    assert "libp2p.host.host" in modules  # it did build a host and dial
    assert _loaded(modules, OPTIONAL) == []


@pytest.mark.parametrize("twin", ["cython", "python"])
def test_twins_resolve_lazily(twin: str) -> None:
    env_code = "import os\n" + ("os.environ['LIBP2P_NO_EXTENSIONS'] = '1'\n" if twin == "python"
                                     else "os.environ.pop('LIBP2P_NO_EXTENSIONS', None)\n")
    modules = _modules_after(
        env_code + "from libp2p import _accel, _pure\n"
        "names = [getattr(_accel, n) for n in _pure.__all__]\n"
        "assert all(n is not None for n in names)\n"
        f"assert _accel.IMPLEMENTATION == {twin!r} or (_accel.IMPLEMENTATION == 'python' and not _accel.NATIVE_BUILT)"
    )
    assert "libp2p._pure.noise" in modules or twin == "cython"


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_perf_contract_loads_the_ws_library_before_its_clock(transport: str) -> None:
    # The contract client's clock starts once the host exists: a /ws run has the library by then
    # (as go's binary has), a tcp run still does not load it.
    modules = _modules_after(
        "import argparse\n"
        "from libp2p.cli import perf\n"
        f"args = argparse.Namespace(key=None, muxer=None, security=None, transport={transport!r})\n"
        f"perf._contract_options(args, perf._contract_multiaddr('127.0.0.1:4001', {transport!r}))"
    )
    assert bool(_loaded(modules, ("websockets",))) == (transport == "ws")


def test_interop_client_loads_the_ws_library_before_its_clock() -> None:
    modules = _modules_after("from libp2p.cli import interop\ninterop._interop_transports('ws', False, '')")
    assert _loaded(modules, ("websockets",)) != []


@contextmanager
def _serve() -> Iterator[str]:
    """A `libp2p serve` on loopback; its first multiaddr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "libp2p", "serve", "--listen", "/ip4/127.0.0.1/tcp/0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        line = read_line(proc, 60)
        assert line, f"serve exited ({proc.poll()})"
        addr: str = json.loads(line)["multiaddrs"][0]
        yield addr
    finally:
        stop(proc)


def test_a_whole_ping_loads_only_what_it_uses() -> None:
    # A ping that dials, secures, identifies and pings once: nothing it does not use is loaded.
    with _serve() as addr:
        modules = _modules_after(
            "import contextlib, io\n"
            "from libp2p.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    status = main(['ping', '-c', '1', '--timeout', '30', {addr!r}])\n"
            "assert status == 0 and '1 pongs' in out.getvalue(), (status, out.getvalue())"
        )
    assert "libp2p.protocols.identify.service" in modules  # it did identify the peer
    assert _loaded(modules, OPTIONAL + PING_NEVER) == []


def test_a_ping_with_json_output_still_prints_json() -> None:
    with _serve() as addr:
        proc = subprocess.run(
            [sys.executable, "-m", "libp2p", "ping", "-c", "2", "-i", "0", "--json", addr],
            capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["rtt_ms"]) == 2
    assert result["median_ms"] == pytest.approx(sum(result["rtt_ms"]) / 2, abs=0.002)  # the mean of the two


def test_main_gives_the_collector_back() -> None:
    # main pauses the cyclic collector while a command loads, and leaves it as it found it
    from libp2p.cli import main

    was = gc.isenabled()
    try:
        gc.enable()
        assert main(["--version"]) == 0
        assert gc.isenabled()
        gc.disable()
        assert main(["--version"]) == 0
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


PEER = "12D3KooWHLBx4bEUA1a69dsCTifikhmcx6AP7nYxTqUJpq6tcfgy"


def test_a_networked_command_runs_its_loop_with_the_collector_on() -> None:
    modules_code = (
        "import gc\n"
        "from libp2p.cli import _common, main\n"
        "seen = []\n"
        "real_run = _common.run\n"
        "async def probe():\n"
        "    seen.append(gc.isenabled())\n"
        "    raise _common.CliError('probe', 3)\n"
        "_common.run = lambda args, _main: real_run(args, probe)\n"
        f"status = main(['ping', '-c', '1', '/ip4/127.0.0.1/tcp/{_closed_port()}/p2p/{PEER}'])\n"
        "assert status == 3 and seen == [True], (status, seen)\n"
        "assert gc.isenabled()"
    )
    _modules_after(modules_code)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
