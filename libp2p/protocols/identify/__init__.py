"""``/ipfs/id/1.0.0`` and ``/ipfs/id/push/1.0.0``."""

from libp2p.protocols.identify.core import IdentifyReader, frame_identify
from libp2p.protocols.identify.events import IdentifyEvent, IdentifyReceived, PeerIdentified
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.identify.wire import (
    PROTOCOL_ID,
    PUSH_PROTOCOL_ID,
    IdentifyDecodeError,
    IdentifyInfo,
    IdentifyMismatchError,
    decode_identify,
    encode_identify,
)

__all__ = [
    "PROTOCOL_ID",
    "PUSH_PROTOCOL_ID",
    "IdentifyDecodeError",
    "IdentifyEvent",
    "IdentifyInfo",
    "IdentifyMismatchError",
    "IdentifyReader",
    "IdentifyReceived",
    "IdentifyService",
    "PeerIdentified",
    "decode_identify",
    "encode_identify",
    "frame_identify",
]
