"""Self-checks of the foreign peer programs (go, rust, js, py-libp2p) and their Python harness.

One module, parametrized over the programs: each dials itself over each muxer, dials and is dialed
by the js program, keeps its identity for a seed, stops on stdin close and SIGTERM, reports failures
with the contract's exit codes, and follows the perf and transport-interop contracts. If these fail,
the problem is the harness or that program's setup, not aiolibp2p. A program is skipped when its
toolchain is missing, and fails under CI=true. Every subprocess is bounded in time and stopped
through its own handle. What only one program has (go's TLS, rust's legacy record format) is at
the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop.go_peer import GoPeer, require_go_peer, run_go_dialer
from tests.interop.js_peer import JsPeer, require_js_peer, run_js_dialer
from tests.interop.peer_program import Event, run_blocking
from tests.interop.pylibp2p_peer import PyLibp2pPeer, require_pylibp2p_peer, run_pylibp2p_dialer
from tests.interop.rust_peer import RustPeer, require_rust_peer, run_rust_dialer
from tests.interop.selfcheck import (
    MUXER_IDS,
    check_transport_interop_output,
    free_port,
    interop_env,
    interop_listener,
    js_dials_listener,
    redis_server,
)

MUXERS = ["yamux", "mplex"]
BASE_PROTOCOLS = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/hash/1.0.0")
ZERO_SEED_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


@dataclass(frozen=True)
class Program:
    """How to run one peer program, and where it legitimately differs from the others."""

    name: str
    require: Callable[[], Path]
    peer: type[JsPeer]
    dialer: Callable[..., Event]
    location: str  # the keyword its helpers take the built program by: "binary" or "peer_dir"
    agent_prefix: str
    protocols: tuple[str, ...] = BASE_PROTOCOLS
    # its listener sends a signed peer record in identify (rust-libp2p only with --signed-peer-record)
    signs_record: bool = True
    # as a dialer it keeps the standard libp2p-peer-record of go/js (rust-libp2p 0.57 drops it)
    keeps_standard_record: bool = True
    # the dialer must stay connected this long to be identified (py-libp2p's identify handler
    # waits up to 0.5 s for a listen address before it answers)
    identify_hold_ms: int = 0
    protocol_version: str | None = None  # what its identify says, where the tests pin it
    key_types: tuple[str, ...] = ()
    # one-shot command line: the program plus its arguments, and the working directory
    command: Callable[[Path, list[str]], tuple[list[str], Path | None]] = lambda loc, args: ([str(loc), *args], None)
    # the transport-interop app: its arguments (None: not checked here) and whether the unified
    # dialect's result starts with the "# Measurements from dialer" comment
    interop_args: tuple[str, ...] | None = None
    interop_dialer_args: tuple[str, ...] = ("transport-interop",)
    interop_comment: bool = True
    perf_benchmark_form: bool = False  # perf --to ... --iterations ... (benchmarks/e2e/bench_stack.py)
    dial_needs_peer_id: bool = True  # `dial --to` without /p2p/ is a usage error (rust and js dial anyway)

    def listen(self, loc: Path, **kwargs: Any) -> AbstractContextManager[JsPeer]:
        return self.peer.listen(**{self.location: loc}, **kwargs)  # type: ignore[no-any-return]

    def dial(self, loc: Path, to: str, **kwargs: Any) -> Event:
        kwargs.setdefault("timeout", 60)
        return self.dialer(to, **{self.location: loc}, **kwargs)

    def run(self, loc: Path, args: list[str], *, env: dict[str, str] | None = None,
            timeout: float = 60) -> tuple[int, str, str]:
        argv, cwd = self.command(loc, args)
        if env is None and self.name == "py":
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return run_blocking(f"{self.name} {' '.join(args)}", argv, timeout=timeout, cwd=cwd, env=env)


def _py_command(loc: Path, args: list[str]) -> tuple[list[str], Path | None]:
    return [str(loc / "venv" / "bin" / "python"), "-I", str(loc / "peer.py"), *args], loc


def _js_command(loc: Path, args: list[str]) -> tuple[list[str], Path | None]:
    return [shutil.which("node") or "node", str(loc / "peer.mjs"), *args], loc


PROGRAMS = {
    "go": Program("go", require_go_peer, GoPeer, run_go_dialer, "binary", "go-libp2p/0.",
                  protocols=(*BASE_PROTOCOLS, "/perf/1.0.0"), protocol_version="",
                  key_types=("ed25519", "secp256k1", "rsa", "ecdsa"), interop_args=("transport-interop",),
                  perf_benchmark_form=True),
    "rust": Program("rust", require_rust_peer, RustPeer, run_rust_dialer, "binary", "rust-libp2p/",
                    protocols=(*BASE_PROTOCOLS, "/perf/1.0.0"), signs_record=False, keeps_standard_record=False,
                    key_types=("ed25519", "secp256k1", "ecdsa", "rsa"), interop_args=(), interop_dialer_args=("interop",),
                    interop_comment=False,
                    dial_needs_peer_id=False),
    "js": Program("js", require_js_peer, JsPeer, run_js_dialer, "peer_dir", "js-libp2p/",
                  protocol_version="ipfs/0.1.0", command=_js_command, dial_needs_peer_id=False),
    "py": Program("py", require_pylibp2p_peer, PyLibp2pPeer, run_pylibp2p_dialer, "peer_dir", "py-libp2p/0.8.1",
                  protocols=(*BASE_PROTOCOLS, "/perf/1.0.0"), identify_hold_ms=1500, protocol_version="ipfs/0.1.0",
                  command=_py_command, interop_args=(), perf_benchmark_form=True),
}


def _programs(predicate: Callable[[Program], bool] = lambda p: True) -> list[Any]:
    return [pytest.param(p, id=name) for name, p in PROGRAMS.items() if predicate(p)]


_built: dict[str, Path] = {}


def _location(program: Program) -> Path:
    if program.name not in _built:
        _built[program.name] = program.require()
    return _built[program.name]


@pytest.fixture(scope="session")
def js_dir() -> Path:
    return _location(PROGRAMS["js"])


def _plain(addr: str) -> str:
    return addr.rsplit("/p2p/", 1)[0]


def _check_dial_result(program: Program, listener: Program, result: Event, listener_id: str, listen_full: str,
                       muxer: str) -> None:
    """What a dialer of ``program`` reports about a ``listener``-program listener."""
    assert result["exit_code"] == 0, result
    assert result["errors"] == []
    assert result["connected"] is True
    assert result["remote_peer"] == listener_id
    assert result["muxer"] == MUXER_IDS[muxer]
    assert result["encryption"] == "/noise"
    assert {"/ipfs/ping/1.0.0", "/echo/1.0.0"} <= set(result["remote_protocols"])
    listen_addr = _plain(listen_full)
    assert result["remote_listen_addrs"] == [listen_addr]
    assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
    if listener.protocol_version is not None and "remote_protocol_version" in result:
        assert result["remote_protocol_version"] == listener.protocol_version
    record = result["signed_peer_record"]
    if listener.signs_record and (program.keeps_standard_record or listener is program):
        assert record is not None
        # py-libp2p puts /p2p/<id> on the addresses of its own signed record; the others do not
        assert [_plain(a) for a in record["addrs"]] == [listen_addr]
        assert result["peer_store"]["has_peer_record"] is True
        assert listen_addr in [_plain(a["addr"]) for a in result["peer_store"]["addresses"]]
    else:
        assert record is None


def _check_listener_saw(listener: JsPeer, dialer_program: Program, dialer: str, muxer: str,
                        echo_sizes: list[int]) -> None:
    """The listener's account of one dialer's visit: the connection, its identify, the echo streams."""
    opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
    assert opened["direction"] == "inbound"
    assert opened["muxer"] == MUXER_IDS[muxer]
    assert opened.get("encryption", "/noise") == "/noise"
    # go-libp2p may register its handlers just after its first identify went out; its
    # identify/push then brings them (a race inside go-libp2p, seen once in CI)
    ident = listener.wait_event("identify", lambda e: "/echo/1.0.0" in e["protocols"], peer=dialer, timeout=10)
    assert ident["agent"].startswith(dialer_program.agent_prefix)
    assert ident["listen_addrs"] == []  # the dialer does not listen
    record = ident.get("signed_peer_record")  # ... so it has no addresses to sign (py-libp2p signs none)
    assert record is None or record["addrs"] == []
    listener.wait_event("connection_close", peer=dialer, timeout=10)
    streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
    assert sorted(e["bytes"] for e in streams) == sorted(echo_sizes)
    assert all(e["ok"] for e in streams)


# -- every program --------------------------------------------------------------------------------


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("muxer", MUXERS)
@pytest.mark.parametrize("program", _programs())
def test_dials_itself(program: Program, muxer: str) -> None:
    loc = _location(program)
    with program.listen(loc, muxer=muxer) as listener:
        assert listener.peer_id.startswith("12D3KooW")
        assert listener.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert listener.multiaddr.endswith(f"/p2p/{listener.peer_id}")
        assert listener.agent is not None and listener.agent.startswith(program.agent_prefix)
        assert set(program.protocols) <= set(listener.protocols)

        # 16 concurrent streams also exercise js's raised mplex disconnectThreshold (default 5/s)
        result = program.dial(loc, listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                              stream_bytes=64 * 1024, hold_ms=program.identify_hold_ms)
        _check_dial_result(program, program, result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert len(result["ping_rtts_ms"]) == 3 and all(r >= 0 for r in result["ping_rtts_ms"])
        assert result["echo_ok"] is True and result["streams_ok"] is True
        _check_listener_saw(listener, program, result["local_peer"], muxer, [64 * 1024] * 16 + [300_000])

        # hashed streams over the same listener
        result = program.dial(loc, listener.multiaddr, muxer=muxer, pings=0, streams=8, stream_bytes=100_000,
                              stream_protocol="hash")
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True and result["ping_rtts_ms"] == []
        listener.wait_event("connection_close", peer=result["local_peer"], timeout=10)
        hashed = listener.find_events("stream", peer=result["local_peer"], protocol="/hash/1.0.0")
        assert len(hashed) == 8 and all(e["ok"] and e["bytes"] == 100_000 and len(e["sha256"]) == 64
                                        for e in hashed)


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs())
def test_stdin_commands(program: Program) -> None:
    with program.listen(_location(program)) as listener:
        reply = listener.command("connections")
        assert reply["ok"] is True and reply["connections"] == []
        reply = listener.command("add-protocol /extra/1.0.0")
        assert reply["ok"] is True and "/extra/1.0.0" in reply["protocols"]
        reply = listener.command("ping 12D3KooWNotAPeer")
        assert reply["ok"] is False and reply["error"]


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs(lambda p: p.name in ("go", "py")))
def test_commands_drive_a_connected_dialer_and_push_identify(program: Program) -> None:
    """The listener pings, echoes and identifies a dialer that stays connected, and pushes identify
    to it when its protocols change."""
    loc = _location(program)
    with program.listen(loc) as listener, ThreadPoolExecutor(1) as pool:
        future = pool.submit(program.dial, loc, listener.multiaddr, pings=1, hold_ms=5000)
        dialer = listener.wait_event("connection_open", timeout=20)["peer"]
        listener.wait_event("identify", peer=dialer, timeout=10)
        reply = listener.command(f"ping {dialer} 3")
        assert reply["ok"] is True and len(reply["rtts_ms"]) == 3, reply
        reply = listener.command(f"echo {dialer} 50000")
        assert reply["ok"] is True, reply
        reply = listener.command(f"identify {dialer}")
        assert reply["ok"] is True, reply
        assert reply["agent"].startswith(program.agent_prefix) and reply["listen_addrs"] == []
        assert reply["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
        reply = listener.command(f"peer-info {dialer}")
        assert reply["ok"] is True and reply["has_public_key"] is True
        reply = listener.command("connections")
        assert reply["ok"] is True and [c["peer"] for c in reply["connections"]] == [dialer]
        reply = listener.command("add-protocol /extra/1.0.0")
        assert reply["ok"] is True and "/extra/1.0.0" in reply["protocols"]
        result = future.result(timeout=60)
    assert result["exit_code"] == 0, result
    assert any("/extra/1.0.0" in push["protocols"] for push in result["identify_pushes"]), result
    assert [s["bytes"] for s in result["inbound_streams"]] == [50_000]  # it served our echo


@pytest.mark.parametrize("program", _programs())
def test_seed_gives_the_identity_python_derives(program: Program) -> None:
    keys = pytest.importorskip("libp2p.identity.keys")
    peer_id_mod = pytest.importorskip("libp2p.identity.peer_id")
    ours = peer_id_mod.PeerId.from_public_key(keys.Ed25519PrivateKey.from_seed(RFC8032_SEED).public_key)
    loc = _location(program)
    with program.listen(loc, key_seed=RFC8032_SEED) as listener:
        assert listener.peer_id == str(ours)
    with program.listen(loc, muxer="mplex", key_seed=RFC8032_SEED.hex()) as again:  # hex too, a new process
        assert again.peer_id == str(ours)
    with program.listen(loc, key_seed=bytes(32)) as zero:
        assert zero.peer_id == ZERO_SEED_PEER_ID


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("key_type", ["ed25519", "secp256k1", "rsa", "ecdsa"])
@pytest.mark.parametrize("program", _programs(lambda p: bool(p.key_types)))
def test_key_types(program: Program, key_type: str) -> None:
    if key_type not in program.key_types:
        pytest.skip(f"the {program.name} peer program does not make {key_type} keys")
    if program.name == "rust" and key_type == "rsa" and shutil.which("openssl") is None:
        pytest.skip("the rust peer makes RSA keys with the openssl command")
    loc = _location(program)
    with program.listen(loc, key_type=key_type) as listener:
        result = program.dial(loc, listener.multiaddr, key_type=key_type, pings=1, echo_bytes=1000)
        assert result["exit_code"] == 0, result
        assert result["remote_peer"] == listener.peer_id
        assert result["echo_ok"] is True


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs())
def test_listener_exits_when_stdin_closes(program: Program) -> None:
    with program.listen(_location(program)) as listener:
        assert listener.proc.stdin is not None
        listener.proc.stdin.close()
        try:
            code = listener.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{program.name} listener kept running after its stdin closed")
        assert code == 0


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs())
def test_listener_exits_on_sigterm(program: Program) -> None:
    with program.listen(_location(program), extra_args=["--ignore-stdin"]) as listener:
        listener.proc.send_signal(signal.SIGTERM)
        assert listener.proc.wait(timeout=10) == 0


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs())
def test_dialer_reports_failure_usage_and_timeout(program: Program) -> None:
    loc = _location(program)
    with program.listen(loc) as listener:
        target = listener.multiaddr
    # nothing listens there any more
    result = program.dial(loc, target, pings=1, timeout=40)
    assert result["exit_code"] == 1
    assert result["connected"] is False
    assert result["errors"] and result["errors"][0].startswith("dial:")
    # usage errors: an unknown muxer, no /p2p/ in the address
    if program.dial_needs_peer_id:
        code, out, err = program.run(loc, ["dial", "--to", "/ip4/127.0.0.1/tcp/1"], timeout=30)
        assert code == 2 and out == "" and "/p2p/" in err
    code, _, _ = program.run(loc, ["dial", "--to", target, "--muxer", "quic"], timeout=30)
    assert code == 2
    # a listener that accepts TCP but never speaks: the dial hangs until --timeout-ms
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        code, out, _ = program.run(loc, ["dial", "--to", f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}",
                                         "--timeout-ms", "1500"], timeout=30)
    assert code == 3
    result = json.loads(out.strip().splitlines()[-1])
    assert result["connected"] is False and any(e.startswith("timeout") for e in result["errors"])


# -- with the js program --------------------------------------------------------------------------


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("muxer", MUXERS)
@pytest.mark.parametrize("program", _programs(lambda p: p.name != "js"))
def test_js_dials(program: Program, js_dir: Path, muxer: str) -> None:
    js = PROGRAMS["js"]
    with program.listen(_location(program), muxer=muxer) as listener:
        js_dials_listener(listener, js_dir, muxer,
                          lambda result, pid, addr, mux: _check_dial_result(js, program, result, pid, addr, mux))


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("muxer", MUXERS)
@pytest.mark.parametrize("program", _programs(lambda p: p.name != "js"))
def test_dials_js(program: Program, js_dir: Path, muxer: str) -> None:
    js = PROGRAMS["js"]
    loc = _location(program)
    with js.listen(js_dir, muxer=muxer) as listener:
        result = program.dial(loc, listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                              stream_bytes=64 * 1024, hold_ms=program.identify_hold_ms)
        _check_dial_result(program, js, result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True and result["streams_ok"] is True
        _check_listener_saw(listener, program, result["local_peer"], muxer, [64 * 1024] * 16 + [300_000])

        result = program.dial(loc, listener.multiaddr, muxer=muxer, pings=0, streams=6, stream_bytes=70_000,
                              stream_protocol="hash")
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True


# -- perf and transport-interop contracts ---------------------------------------------------------


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def _process(argv: list[str], cwd: Path | None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs(lambda p: p.name != "js"))
def test_perf_contract(program: Program) -> None:
    """The perf app of libp2p/test-plans: a server with the zero-seed identity; a client printing
    intermediary lines and one final line."""
    loc = _location(program)
    port = free_port()
    argv, cwd = program.command(loc, ["perf", "--run-server", "--server-address", f"127.0.0.1:{port}"])
    with _process(argv, cwd) as server:
        _wait_port(port, server)
        code, out, err = program.run(loc, ["perf", "--server-address", f"127.0.0.1:{port}", "--transport", "tcp",
                                           "--upload-bytes", str(10 << 20), "--download-bytes", str(20 << 20)])
        assert code == 0, err[-3000:]
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert lines[-1]["type"] == "final"
        assert lines[-1]["uploadBytes"] == 10 << 20 and lines[-1]["downloadBytes"] == 20 << 20
        assert 0 < lines[-1]["timeSeconds"] < 60
        assert all(line["type"] == "intermediary" for line in lines[:-1])

        if program.perf_benchmark_form:  # shared with peer.mjs (benchmarks/e2e/bench_stack.py)
            to = f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}"
            for muxer in MUXERS:
                code, out, err = program.run(loc, ["perf", "--to", to, "--muxer", muxer, "--upload-bytes",
                                                   str(1 << 20), "--download-bytes", str(1 << 20), "--iterations",
                                                   "2", "--pings", "5", "--dials", "2"])
                assert code == 0, err[-3000:]
                bench = json.loads(out.strip().splitlines()[-1])
                assert bench["errors"] == [] and bench["muxer"] == MUXER_IDS[muxer]
                assert len(bench["upload_seconds"]) == 2 and len(bench["download_cpu_seconds"]) == 2
                assert len(bench["ping_rtts"]) == 5 and len(bench["dial_ping_seconds"]) == 2
                assert bench["rusage"]["maxRSS"] > 0
    assert server.returncode == 0


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize("program", _programs(lambda p: p.name != "js"))
def test_js_perf_client(program: Program, js_dir: Path) -> None:
    with program.listen(_location(program)) as server:
        code, out, err = PROGRAMS["js"].run(js_dir, ["perf", "--to", server.multiaddr, "--upload-bytes",
                                                     str(1 << 20), "--download-bytes", str(1 << 20), "--iterations",
                                                     "1", "--pings", "3", "--dials", "1", "--no-connection-monitor"])
        assert code == 0, err[-3000:]
        bench = json.loads(out.strip().splitlines()[-1])
        assert bench["errors"] == [] and len(bench["download_seconds"]) == 1


@pytest.fixture()
def redis_addr() -> Iterator[str]:
    with redis_server() as addr:
        yield addr


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
@pytest.mark.parametrize(("dialect", "muxer"), [("test-plans", "yamux"), ("test-plans", "mplex"),
                                                ("unified", "yamux"), ("unified", "mplex")])
@pytest.mark.parametrize("program", _programs(lambda p: p.interop_args is not None))
def test_transport_interop(program: Program, redis_addr: str, dialect: str, muxer: str) -> None:
    unified = dialect == "unified"
    loc = _location(program)
    key = os.urandom(4).hex()
    assert program.interop_args is not None
    listener_env = interop_env(unified, False, redis_addr, muxer, key)
    listener_env.pop("PYTHONPATH", None)
    # no arguments (rust, py): the container entrypoint form, the mode chosen by is_dialer/IS_DIALER
    argv, cwd = program.command(loc, list(program.interop_args))
    with interop_listener(argv, listener_env, cwd=cwd):
        dialer_env = interop_env(unified, True, redis_addr, muxer, key)
        dialer_env.pop("PYTHONPATH", None)
        code, out, err = program.run(loc, list(program.interop_dialer_args), env=dialer_env, timeout=45)
        assert code == 0, err[-3000:]
    if unified and not program.interop_comment:
        out = "# Measurements from dialer\n" + out
    check_transport_interop_output(out, unified)


# -- what only one program has ---------------------------------------------------------------------


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
def test_go_tls() -> None:
    go = PROGRAMS["go"]
    loc = _location(go)
    with go.listen(loc, security="tls") as listener:
        result = go.dial(loc, listener.multiaddr, security="tls", pings=2, streams=4)
        assert result["exit_code"] == 0, result
        assert result["encryption"] == "/tls/1.0.0"
        assert result["muxer"] == "/yamux/1.0.0"
        # a noise-only dialer cannot talk to a tls-only listener
        result = go.dial(loc, listener.multiaddr, pings=1, timeout=40)
        assert result["exit_code"] == 1 and result["connected"] is False


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
def test_go_has_no_public_identify_push_trigger() -> None:
    go = PROGRAMS["go"]
    with go.listen(_location(go)) as listener:
        reply = listener.command("push")
        assert reply["ok"] is False


@pytest.mark.twin_pinned  # foreign programs only: the LIBP2P_NO_EXTENSIONS pass would repeat it
def test_rust_signed_peer_record_is_legacy_format(js_dir: Path) -> None:
    """--signed-peer-record: rust-libp2p signs its record in its legacy envelope format. Another rust
    peer verifies it; js-libp2p rejects the whole identify message."""
    rust = PROGRAMS["rust"]
    loc = _location(rust)
    with rust.listen(loc, extra_args=["--signed-peer-record"]) as listener:
        result = rust.dial(loc, listener.multiaddr)
        assert result["exit_code"] == 0, result
        assert result["signed_peer_record"]["addrs"] == [_plain(listener.multiaddr)]
        assert int(result["signed_peer_record"]["seq"]) > 0
        assert result["peer_store"]["has_peer_record"] is True
        js = run_js_dialer(listener.multiaddr, pings=1, peer_dir=js_dir, timeout=60)
        assert js["connected"] is True
        assert any(e.startswith("identify:") and "signature" in e.lower() for e in js["errors"]), js["errors"]
