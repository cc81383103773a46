"""Typed errors of mplex. Shared by both frame-codec twins, so they must stay plain Python.

This module imports nothing from the rest of the package (see ``__init__.py``).
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
    "MplexArgumentError",
    "MplexDecodeError",
    "MplexError",
    "MplexFrameTooLargeError",
    "MplexInvalidFlagError",
    "MplexPingUnsupportedError",
    "MplexProtocolError",
    "MplexSessionClosedError",
    "MplexStreamClosedError",
    "MplexStreamError",
    "MplexUnknownStreamError",
]

# SessionClosed.error_code values (mplex has no codes on the wire; these mirror yamux's).
NORMAL = 0
PROTOCOL_ERROR = 1


class MplexError(Libp2pError):
    """Base of every mplex error."""


class MplexDecodeError(MplexError, DecodeError):
    """Malformed mplex frames."""


class MplexFrameTooLargeError(MplexDecodeError, FrameTooLargeError):
    """A frame declared more payload than the message size limit (1 MiB by default)."""


class MplexInvalidFlagError(MplexDecodeError):
    """A frame header carried flag 7, which mplex does not define."""


class MplexProtocolError(MplexError, RemoteProtocolError):
    """The peer broke mplex's rules (e.g. NewStream for a stream id already open)."""

    code = PROTOCOL_ERROR


class MplexArgumentError(MplexError, LocalProtocolError, ValueError):
    """A frame to pack has a stream id, flag or length out of range."""


class MplexStreamError(MplexError, LocalProtocolError):
    """Base of errors about a stream our caller used wrongly."""


class MplexUnknownStreamError(MplexStreamError, KeyError):
    """No such stream (never opened, reset, or fully closed and forgotten)."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class MplexStreamClosedError(MplexStreamError):
    """Writing to a stream after closing it for writing."""


class MplexSessionClosedError(MplexError, LocalProtocolError):
    """The session is closed."""


class MplexPingUnsupportedError(MplexError, LocalProtocolError):
    """mplex has no session-level ping; use the ``/ipfs/ping/1.0.0`` protocol on a stream."""
