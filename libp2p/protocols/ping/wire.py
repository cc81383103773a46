"""Ping's wire format: no framing, 32-byte payloads echoed verbatim."""

from __future__ import annotations

from libp2p.errors import RemoteProtocolError

__all__ = ["PROTOCOL_ID", "PING_LENGTH", "PING_TIMEOUT", "PingMismatchError"]

PROTOCOL_ID = "/ipfs/ping/1.0.0"
PING_LENGTH = 32
# go-libp2p's per-round timeout.
PING_TIMEOUT = 10.0
# The spec lets a listener refuse more; go allows 2 concurrent inbound ping streams per peer.
MAX_INBOUND_PING_STREAMS = 2


class PingMismatchError(RemoteProtocolError):
    """The pong did not repeat our ping."""
