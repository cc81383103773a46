"""A command loads only what it uses: ``import libp2p``, ``libp2p --version`` and ``libp2p ping``
must not import the optional stacks (QUIC, WebSocket, pubsub, the DHT, relay, TLS).

Behavioural: each case runs in a fresh interpreter and reports ``sys.modules``; no timing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

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

_REPORT = "import json, sys; print(json.dumps(sorted(sys.modules)))"


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
