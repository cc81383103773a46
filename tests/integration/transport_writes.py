"""Every write a connection makes to its socket, recorded: for tests of what goes out in which write."""

from __future__ import annotations

from typing import Any, cast

import pytest

from libp2p.security.noise.service import NoiseSession
from libp2p.transport.connection import RawConnection
from libp2p.transport.tcp import _AcceptedTcpConnection

__all__ = ["count_writes", "plaintexts", "record_transport_writes"]


class _Recording:
    """A socket's transport, with each write its connection makes appended to ``writes``."""

    def __init__(self, raw: RawConnection, transport: Any, writes: list[tuple[RawConnection, bytes]]) -> None:
        self._raw, self._transport, self._writes = raw, transport, writes

    def write(self, data: Any) -> None:
        self._writes.append((self._raw, bytes(data)))
        self._transport.write(data)

    def writelines(self, buffers: Any) -> None:
        self.write(b"".join(bytes(b) for b in buffers))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def record_transport_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RawConnection, bytes]]:
    """From now on, every connection made records its writes here as ``(connection, bytes)``."""
    writes: list[tuple[RawConnection, bytes]] = []
    # a TCP listener's connections are a subclass with a connection_made of its own
    for cls in (RawConnection, _AcceptedTcpConnection):
        monkeypatch.setattr(cls, "connection_made", _recording(cls.connection_made, writes))
    return writes


def _recording(made: Any, writes: list[tuple[RawConnection, bytes]]) -> Any:
    def record_writes(self: RawConnection, transport: Any) -> None:
        made(self, cast(Any, _Recording(self, transport, writes)))

    return record_writes


def count_writes(conn: Any, counts: dict[str, int], side: str) -> None:
    """From now on, each write ``conn`` (a muxed connection) makes to its raw connection adds one to ``counts[side]``."""
    write = conn.raw.write

    def counted(data: Any) -> None:
        counts[side] += 1
        write(data)

    conn.raw.write = counted


@pytest.fixture
def plaintexts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[NoiseSession, bytes]]:
    """Every secured write's plaintext, with its session (one encrypt per socket write). A fixture:
    import it into the test module."""
    seen: list[tuple[NoiseSession, bytes]] = []
    session_init = NoiseSession.__init__

    def record_encrypts(self: NoiseSession, *args: Any) -> None:
        session_init(self, *args)
        encrypt = self.encrypt

        def record_encrypt(data: Any) -> bytes:
            seen.append((self, bytes(data)))
            return encrypt(data)

        self.encrypt = record_encrypt

    monkeypatch.setattr(NoiseSession, "__init__", record_encrypts)
    return seen
