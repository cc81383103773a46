"""aiolibp2p: libp2p for asyncio."""

import logging

from libp2p._accel import IMPLEMENTATION
from libp2p.errors import DecodeError, Libp2pError, LocalProtocolError, RemoteProtocolError
from libp2p.identity.keys import KeyType, PrivateKey, PublicKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr

__all__ = [
    "IMPLEMENTATION",
    "DecodeError",
    "Host",
    "KeyType",
    "Libp2pError",
    "LocalProtocolError",
    "Multiaddr",
    "PeerId",
    "PeerInfo",
    "PrivateKey",
    "PublicKey",
    "RemoteProtocolError",
    "__version__",
    "generate_key_pair",
    "new_host",
]

from libp2p._version import __version__

# A library only logs; the application decides where to. Without this, Python's last-resort
# handler would print our WARNINGs to stderr in a program that configured no logging.
logging.getLogger("libp2p").addHandler(logging.NullHandler())


def __getattr__(name: str) -> object:
    # The host pulls in the whole connection stack; load it only when asked for.
    if name == "Host":
        from libp2p.host.host import Host

        return Host
    if name == "new_host":
        from libp2p.node import new_host

        return new_host
    if name == "PeerInfo":
        from libp2p.peerstore import PeerInfo

        return PeerInfo
    raise AttributeError(f"module 'libp2p' has no attribute {name!r}")
