"""aiolibp2p: libp2p for asyncio.

Everything an application uses is importable from here::

    from libp2p import new_host, PeerId, Multiaddr, Stream, DialError, read_message, write_message

Everything but the version and the error classes loads on first use, so ``import libp2p`` stays light.
"""

import logging
from typing import TYPE_CHECKING

from libp2p._version import __version__
from libp2p.errors import (
    ArgumentTypeError,
    DecodeError,
    InvalidArgumentError,
    Libp2pError,
    LocalProtocolError,
    MissingPeerIdError,
    MultiaddrError,
    PeerIdMismatchError,
    RemoteProtocolError,
    SecurityError,
    StateError,
    UnexpectedEOFError,
)

if TYPE_CHECKING:
    from libp2p._accel import IMPLEMENTATION
    from libp2p.identity.keys import KeyType, PrivateKey, PublicKey, generate_key_pair
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.abc import Connection, Stream
    from libp2p.host.events import (
        ConnectionClosed,
        ConnectionOpened,
        EventBus,
        PeerConnected,
        PeerDisconnected,
        PeerProtocolsUpdated,
    )
    from libp2p.host.host import Host, HostConfig, PeerRouting
    from libp2p.host.service import Service
    from libp2p.host.swarm import NoAddressesError
    from libp2p.host.upgrader import NotLibp2pPeerError, UpgradeError
    from libp2p.msgio import messages, read_message, write_message
    from libp2p.muxer.connection import StreamClosedError, StreamResetError
    from libp2p.negotiate.service import NegotiationTimeoutError, ProtocolNotSupportedError
    from libp2p.node import new_host
    from libp2p.peerstore import PeerInfo
    from libp2p.protocols.identify.events import PeerIdentified
    from libp2p.protocols.kad.records import InvalidRecordError
    from libp2p.protocols.kad.service import RecordNotFoundError
    from libp2p.resources import ResourceLimitExceededError
    from libp2p.transport.tcp import DialError

# A library only logs; the application decides where to. Without this, Python's last-resort
# handler would print our WARNINGs to stderr in a program that configured no logging.
logging.getLogger("libp2p").addHandler(logging.NullHandler())

# name -> module, loaded on first access (the host pulls in the whole connection stack; even
# keys, peer IDs and multiaddrs load the crypto libraries, which `libp2p --version` never needs)
_LAZY = {
    "IMPLEMENTATION": "libp2p._accel",
    "KeyType": "libp2p.identity.keys",
    "PrivateKey": "libp2p.identity.keys",
    "PublicKey": "libp2p.identity.keys",
    "generate_key_pair": "libp2p.identity.keys",
    "PeerId": "libp2p.identity.peer_id",
    "Multiaddr": "libp2p.multiaddr",
    "Host": "libp2p.host.host",
    "HostConfig": "libp2p.host.host",
    "PeerRouting": "libp2p.host.host",
    "new_host": "libp2p.node",
    "PeerInfo": "libp2p.peerstore",
    "Service": "libp2p.host.service",
    "Stream": "libp2p.abc",
    "Connection": "libp2p.abc",
    "EventBus": "libp2p.host.events",
    "ConnectionOpened": "libp2p.host.events",
    "ConnectionClosed": "libp2p.host.events",
    "PeerConnected": "libp2p.host.events",
    "PeerDisconnected": "libp2p.host.events",
    "PeerProtocolsUpdated": "libp2p.host.events",
    "PeerIdentified": "libp2p.protocols.identify.events",
    "read_message": "libp2p.msgio",
    "write_message": "libp2p.msgio",
    "messages": "libp2p.msgio",
    # errors an application may catch
    "DialError": "libp2p.transport.tcp",
    "NoAddressesError": "libp2p.host.swarm",
    "UpgradeError": "libp2p.host.upgrader",
    "NotLibp2pPeerError": "libp2p.host.upgrader",
    "StreamResetError": "libp2p.muxer.connection",
    "StreamClosedError": "libp2p.muxer.connection",
    "ProtocolNotSupportedError": "libp2p.negotiate.service",
    "NegotiationTimeoutError": "libp2p.negotiate.service",
    "ResourceLimitExceededError": "libp2p.resources",
    "InvalidRecordError": "libp2p.protocols.kad.records",
    "RecordNotFoundError": "libp2p.protocols.kad.service",
}

__all__ = [
    "IMPLEMENTATION",
    "ArgumentTypeError",
    "DecodeError",
    "InvalidArgumentError",
    "KeyType",
    "Libp2pError",
    "LocalProtocolError",
    "MissingPeerIdError",
    "Multiaddr",
    "MultiaddrError",
    "PeerId",
    "PeerIdMismatchError",
    "PrivateKey",
    "PublicKey",
    "RemoteProtocolError",
    "SecurityError",
    "StateError",
    "UnexpectedEOFError",
    "__version__",
    "generate_key_pair",
    "Host",
    "HostConfig",
    "PeerRouting",
    "new_host",
    "PeerInfo",
    "Service",
    "Stream",
    "Connection",
    "EventBus",
    "ConnectionOpened",
    "ConnectionClosed",
    "PeerConnected",
    "PeerDisconnected",
    "PeerProtocolsUpdated",
    "PeerIdentified",
    "read_message",
    "write_message",
    "messages",
    "DialError",
    "NoAddressesError",
    "UpgradeError",
    "NotLibp2pPeerError",
    "StreamResetError",
    "StreamClosedError",
    "ProtocolNotSupportedError",
    "NegotiationTimeoutError",
    "ResourceLimitExceededError",
    "InvalidRecordError",
    "RecordNotFoundError",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'libp2p' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
