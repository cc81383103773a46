"""``/perf/1.0.0``: upload N bytes, then download M bytes, for throughput measurement."""

from libp2p.protocols.perf.service import PerfResult, PerfService, perf
from libp2p.protocols.perf.wire import PROTOCOL_ID

__all__ = ["PROTOCOL_ID", "PerfResult", "PerfService", "perf"]
