"""multistream-select 1.0: protocol negotiation on a fresh connection or stream (sans-IO)."""

from libp2p.negotiate.core import (
    LS,
    MAX_MESSAGE_SIZE,
    NA,
    PROTOCOL_ID,
    SIMULTANEOUS_CONNECT,
    MultistreamDialer,
    MultistreamListener,
    decode_list_response,
    encode_list_response,
    encode_message,
)
from libp2p.negotiate.errors import (
    EmptyMessageError,
    IncorrectVersionError,
    InvalidListResponseError,
    MessageDecodeError,
    MessageTooLargeError,
    MissingNewlineError,
    NegotiationError,
    NegotiationStateError,
    TooManyRoundsError,
    UnexpectedResponseError,
)
from libp2p.negotiate.events import NegotiationEvent, ProtocolAgreed, ProtocolRejected, ProtocolsListed

__all__ = [
    "LS",
    "MAX_MESSAGE_SIZE",
    "NA",
    "PROTOCOL_ID",
    "SIMULTANEOUS_CONNECT",
    "EmptyMessageError",
    "IncorrectVersionError",
    "InvalidListResponseError",
    "MessageDecodeError",
    "MessageTooLargeError",
    "MissingNewlineError",
    "MultistreamDialer",
    "MultistreamListener",
    "NegotiationError",
    "NegotiationEvent",
    "NegotiationStateError",
    "ProtocolAgreed",
    "ProtocolRejected",
    "ProtocolsListed",
    "TooManyRoundsError",
    "UnexpectedResponseError",
    "decode_list_response",
    "encode_list_response",
    "encode_message",
]
