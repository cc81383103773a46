"""aiolibp2p: libp2p for asyncio."""

from libp2p._accel import IMPLEMENTATION
from libp2p.errors import DecodeError, Libp2pError, LocalProtocolError, RemoteProtocolError

__all__ = [
    "IMPLEMENTATION",
    "DecodeError",
    "Libp2pError",
    "LocalProtocolError",
    "RemoteProtocolError",
]

__version__ = "0.1.0.dev0"
