"""Transports: TCP and an in-memory transport for tests and simulations."""

from libp2p.transport.connection import RawConnection
from libp2p.transport.memory import MemoryNetwork, MemoryTransport
from libp2p.transport.tcp import TcpTransport

__all__ = ["RawConnection", "MemoryNetwork", "MemoryTransport", "TcpTransport"]
