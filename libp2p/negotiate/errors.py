"""Typed errors of multistream-select 1.0 negotiation.

Malformed bytes are ``DecodeError`` subclasses; a well-formed message that breaks the protocol
(wrong header, an answer we did not ask for, too many rounds) is a ``RemoteProtocolError``.
Every one of them is also a ``NegotiationError`` so a caller can catch the whole family.
"""

from __future__ import annotations

from libp2p.errors import (
    DecodeError,
    FrameTooLargeError,
    Libp2pError,
    LocalProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "DataAfterRefusalError",
    "EmptyMessageError",
    "IncorrectVersionError",
    "InvalidListResponseError",
    "MessageDecodeError",
    "MessageTooLargeError",
    "MissingNewlineError",
    "NegotiationError",
    "NegotiationStateError",
    "TooManyRoundsError",
    "UnexpectedResponseError",
]


class NegotiationError(Libp2pError):
    """Base of every multistream-select error."""


class DataAfterRefusalError(NegotiationError):
    """Bytes that are no multistream message followed a proposal we refused: an optimistic dialer's
    data for the protocol it hoped for (not a malformed message)."""


class MessageDecodeError(NegotiationError, DecodeError):
    """A multistream message is malformed (bad length prefix, bad UTF-8, ...)."""


class MessageTooLargeError(MessageDecodeError, FrameTooLargeError):
    """A message declared more than the 1024-byte limit (go-multistream's bound)."""


class MissingNewlineError(MessageDecodeError):
    """A message did not end in ``\\n``."""


class EmptyMessageError(MessageDecodeError):
    """A zero-length message, or one holding only the newline where a protocol id was expected."""


class InvalidListResponseError(MessageDecodeError):
    """The answer to ``ls`` is not a sequence of length-prefixed, newline-terminated entries."""


class IncorrectVersionError(NegotiationError, RemoteProtocolError):
    """The peer's first message was not ``/multistream/1.0.0``."""


class UnexpectedResponseError(NegotiationError, RemoteProtocolError):
    """The listener answered a proposal with something other than its echo or ``na``."""


class TooManyRoundsError(NegotiationError, RemoteProtocolError):
    """The dialer kept proposing past the listener's bound on rounds."""


class NegotiationStateError(NegotiationError, LocalProtocolError):
    """Our caller used a negotiator wrongly (bad protocol id, use after failure)."""
