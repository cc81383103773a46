"""QUIC v1 transport (``/udp/N/quic-v1``) on aioquic: ``QuicTransport(QuicConfig(...))``.

Needs the ``quic`` extra (``pip install aiolibp2p[quic]``): aioquic, pinned, because
``_aioquic_hooks`` reaches into its private TLS code.
"""

from __future__ import annotations

from libp2p.transport.quic.config import QuicConfig
from libp2p.transport.quic.connection import MUXER_ID, QuicConn, QuicHandshakeError, QuicStream
from libp2p.transport.quic.transport import QuicListener, QuicTransport, quic_endpoint

__all__ = ["MUXER_ID", "QuicConfig", "QuicConn", "QuicHandshakeError", "QuicListener", "QuicStream", "QuicTransport", "quic_endpoint"]
