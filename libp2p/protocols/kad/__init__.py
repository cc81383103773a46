"""Kademlia DHT (``/ipfs/kad/1.0.0``): routing table, iterative lookups, value and provider records.

``core.KadCore`` is the sans-IO node (routing table, store, answers, lookups driven by ``now``);
``service.KadDHT`` runs it on a host. ``records`` holds the validators (``/pk``, ``/ipns``) and the
bounded in-memory store; ``ipns`` creates and verifies IPNS records.
"""

from libp2p.protocols.kad.core import ClosestPeersLookup, KadConfig, KadCore, KadRequestRejected
from libp2p.protocols.kad.events import (
    KadEvent,
    LookupFinished,
    LookupKind,
    LookupResult,
    LookupStats,
    PeerCheckRequested,
    RequestIssued,
    RoutingTableUpdated,
)
from libp2p.protocols.kad.ipns import IpnsError, create_ipns_record, verify_ipns_record
from libp2p.protocols.kad.records import (
    FunctionValidator,
    InvalidRecordError,
    IpnsValidator,
    MemoryRecordStore,
    NamespacedValidator,
    PermissiveValidator,
    PublicKeyValidator,
    RecordStore,
    Validator,
    default_validator,
)
from libp2p.protocols.kad.routing import AddOutcome, RoutingTable, kad_key
from libp2p.protocols.kad.service import KadDHT, RecordNotFoundError
from libp2p.protocols.kad.wire import (
    MAX_MESSAGE_SIZE,
    PROTOCOL_ID,
    ConnectionType,
    KadDecodeError,
    KadMessage,
    KadPeer,
    KadRecord,
    MessageType,
    decode_message,
    encode_message,
)

__all__ = [
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_ID",
    "AddOutcome",
    "ClosestPeersLookup",
    "ConnectionType",
    "FunctionValidator",
    "InvalidRecordError",
    "IpnsError",
    "IpnsValidator",
    "KadConfig",
    "KadCore",
    "KadDHT",
    "KadDecodeError",
    "KadEvent",
    "KadMessage",
    "KadPeer",
    "KadRecord",
    "KadRequestRejected",
    "LookupFinished",
    "LookupKind",
    "LookupResult",
    "LookupStats",
    "MemoryRecordStore",
    "MessageType",
    "NamespacedValidator",
    "PeerCheckRequested",
    "PermissiveValidator",
    "PublicKeyValidator",
    "RecordNotFoundError",
    "RecordStore",
    "RequestIssued",
    "RoutingTable",
    "RoutingTableUpdated",
    "Validator",
    "create_ipns_record",
    "decode_message",
    "default_validator",
    "encode_message",
    "kad_key",
    "verify_ipns_record",
]
