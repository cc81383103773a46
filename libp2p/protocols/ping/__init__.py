"""``/ipfs/ping/1.0.0``: 32 random bytes echoed back; the dialer measures the round trip."""

from libp2p.protocols.ping.core import PingClient
from libp2p.protocols.ping.events import PingEvent, PongReceived
from libp2p.protocols.ping.service import PingService
from libp2p.protocols.ping.wire import PING_LENGTH, PROTOCOL_ID, PingMismatchError

__all__ = ["PING_LENGTH", "PROTOCOL_ID", "PingClient", "PingEvent", "PingMismatchError", "PingService", "PongReceived"]
