"""Hostile peers that speak real bytes over real loopback sockets, and the host they attack.

``ServedHost`` runs ``libp2p serve`` in its own process (same interpreter, same environment,
so the same twin: compiled or LIBP2P_NO_EXTENSIONS=1) and reads its RSS from /proc.
``Attacker`` opens raw TCP connections (optionally from another 127.0.0.0/8 source address),
negotiates ``/noise`` with multistream, runs a Noise XX handshake as initiator with the
library's sans-IO core (or breaks it), then writes arbitrary encrypted muxer frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import suppress

from libp2p._accel import NoiseEncryptor, mplex_pack_frame, varint_encode, yamux_pack_header
from libp2p.identity.keys import generate_key_pair
from libp2p.negotiate.core import encode_message
from libp2p.security.noise.core import NoiseHandshake

ATTACKER_IP = "127.0.0.2"  # a different loopback source than the good client (127.0.0.1)
MS = encode_message("/multistream/1.0.0")

# yamux
Y_DATA, Y_WINDOW, Y_PING, Y_GOAWAY = 0, 1, 2, 3
Y_SYN, Y_ACK, Y_FIN, Y_RST = 1, 2, 4, 8
# mplex
M_NEW, M_MSG_INIT, M_CLOSE_INIT, M_RESET_INIT = 0, 2, 4, 6


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class ServedHost:
    """``libp2p serve`` in a subprocess; ``addr`` is its /ip4/127.0.0.1/tcp/N/p2p/<id>."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.addr = ""
        self.peer_id = ""
        self.port = 0

    def start(self, timeout: float = 30.0) -> ServedHost:
        cmd = [sys.executable, "-m", "libp2p", "serve", "--listen", "/ip4/0.0.0.0/tcp/0", *self.extra]
        self.stderr = open(os.devnull, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while b"\n" not in buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"libp2p serve did not start: {buf!r}")
            with suppress(BlockingIOError, TypeError):
                chunk = self.proc.stdout.read()
                if chunk:
                    buf += chunk
            time.sleep(0.02)
        line = json.loads(buf.split(b"\n", 1)[0])
        self.peer_id = line["peer_id"]
        tcp = line["multiaddrs"][0].split("/")
        self.port = int(tcp[tcp.index("tcp") + 1])
        self.addr = f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mib(self) -> float:
        assert self.proc is not None
        return rss_kib(self.proc.pid) / 1024

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


class Conn:
    """One raw attacker connection; after ``handshake()`` ``send()`` encrypts."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.enc: NoiseEncryptor | None = None

    def raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, plaintext: bytes) -> None:
        assert self.enc is not None
        self.writer.write(self.enc.encrypt(plaintext))

    async def drain(self, timeout: float = 10.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self.writer.drain()
            return True
        except (TimeoutError, OSError):
            return False

    def close(self) -> None:
        with suppress(Exception):
            self.writer.transport.abort()

    async def handshake(self, *, muxer: str = "/yamux/1.0.0", bad_key: bool = False,
                        msg3_override: bytes | None = None, timeout: float = 10.0) -> None:
        """multistream /noise + Noise XX (initiator) with early muxer negotiation."""
        key = generate_key_pair()
        hs = NoiseHandshake(True, key, muxers=(muxer,))
        if bad_key:
            # Claim another identity key than the one that signs the static key.
            other = generate_key_pair()
            hs._identity = _Liar(key, other)  # noqa: SLF001 - the attack
        self.raw(MS + encode_message("/noise") + hs.data_to_send())
        async with asyncio.timeout(timeout):
            got = b""
            need = len(MS) + len(encode_message("/noise"))
            while len(got) < need:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("closed during multistream")
                got += chunk
            rest = got[need:]
            while not hs.complete:
                if rest:
                    hs.receive_data(rest)
                    rest = b""
                    continue
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("closed during the Noise handshake")
                hs.receive_data(chunk)
        out = hs.data_to_send()
        if msg3_override is not None:
            out = msg3_override
        self.raw(out)
        self.enc, _dec = hs.transport()


class _Liar:
    """An identity whose public key is ``claimed`` but which signs with ``real``."""

    def __init__(self, real, claimed) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.public_key = claimed.public_key

    def sign(self, data: bytes) -> bytes:
        return self.real.sign(data)


async def connect(port: int, source: str = ATTACKER_IP, timeout: float = 5.0) -> Conn:
    async with asyncio.timeout(timeout):
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), limit=1 << 20)
    return Conn(r, w)


def yamux_frame(type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> bytes:
    return yamux_pack_header(type_, flags, sid, length) + payload


def mplex_frame(sid: int, flag: int, payload: bytes = b"") -> bytes:
    return mplex_pack_frame(sid, flag, payload)


def mplex_header_only(sid: int, flag: int, length: int) -> bytes:
    return varint_encode((sid << 3) | flag) + varint_encode(length)


def ms_select(protocol: str) -> bytes:
    return MS + encode_message(protocol)


async def drain_reader(conn: Conn, stop: asyncio.Event) -> None:
    """Read and drop whatever the host sends (so its writes don't back up)."""
    with suppress(Exception):
        while not stop.is_set():
            if not await conn.reader.read(65536):
                return
