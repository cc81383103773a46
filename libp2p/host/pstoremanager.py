"""Forgets departed peers, as go-libp2p's pstoremanager does.

A peer that stays disconnected for ``grace`` seconds loses its key, protocols, agent and metadata
(``Peerstore.forget``); its addresses stay until their TTLs run out, and a peer with nothing left is
dropped (``Peerstore.prune``). Without this a long-running node keeps ~14 KiB for every peer that
ever connected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from libp2p.errors import InvalidArgumentError
from libp2p.identity.peer_id import PeerId
from libp2p.peerstore.memory import Peerstore

__all__ = ["PeerstoreManager"]


class PeerstoreManager:
    def __init__(
        self,
        peerstore: Peerstore,
        is_connected: Callable[[PeerId], bool],
        grace: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grace < 0:
            raise InvalidArgumentError("grace must be >= 0")
        self.peerstore = peerstore
        self.grace = grace
        self._is_connected = is_connected
        self._clock = clock
        self._gone: dict[PeerId, float] = {}  # peer -> when its last connection closed

    def connected(self, peer: PeerId) -> None:
        self._gone.pop(peer, None)

    def disconnected(self, peer: PeerId) -> None:
        self._gone[peer] = self._clock()

    @property
    def pending(self) -> int:
        """Disconnected peers not forgotten yet."""
        return len(self._gone)

    def sweep(self) -> int:
        """Forget the peers gone for ``grace`` seconds, then prune; returns how many were forgotten."""
        now = self._clock()
        due = [peer for peer, at in self._gone.items() if now - at >= self.grace]
        for peer in due:
            del self._gone[peer]
            if not self._is_connected(peer):
                self.peerstore.forget(peer)
        self.peerstore.prune()
        return len(due)

    @property
    def interval(self) -> float:
        """How often ``run`` sweeps: often enough that nobody stays much past ``grace``."""
        return min(max(self.grace / 2, 0.05), 30.0)

    async def run(self) -> None:
        """Sweep for ever (the host runs this as one of its tasks)."""
        while True:
            await asyncio.sleep(self.interval)
            self.sweep()
