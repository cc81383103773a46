"""AutoNAT v1 as a host service: the server (dials a requester back on a fresh connection, within
``ServerPolicy``) and the client (asks servers among connected peers and turns their answers
into the host's reachability, ``LocalReachabilityChanged``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from libp2p.errors import DecodeError, Libp2pError
from libp2p.host.events import LocalReachabilityChanged, PeerProtocolsUpdated, Reachability
from libp2p.host.host import is_limited
from libp2p.host.service import Service
from libp2p.protocols.autonat.core import AutonatConfig, ReachabilityTracker, ServerPolicy
from libp2p.protocols.autonat.events import AutonatDialRequested, AutonatProbed
from libp2p.protocols.autonat.wire import (
    MAX_MESSAGE_SIZE,
    PROTOCOL_ID,
    AutonatDecodeError,
    DialRequest,
    DialResponse,
    ResponseStatus,
    decode_dial,
    decode_response,
    encode_dial,
    encode_response,
    frame,
)
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.relay.core import MessageReader
from libp2p.transport.circuit import CircuitTransport, is_circuit_addr

if TYPE_CHECKING:
    from libp2p.abc import Stream
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["AutonatService"]

log = logging.getLogger("libp2p.protocols.autonat")


async def _read(stream: Stream, timeout: float) -> bytes:
    reader = MessageReader(MAX_MESSAGE_SIZE)
    async with asyncio.timeout(timeout):
        while True:
            data = await stream.read(reader.wanted())
            if not data:
                raise EOFError("the AutoNAT stream ended")
            try:
                if reader.receive_data(data):
                    break
            except DecodeError as exc:
                raise AutonatDecodeError(str(exc)) from None
    assert reader.message is not None
    return reader.message


class AutonatService(Service):
    """``/libp2p/autonat/1.0.0``: server and client. ``reachability`` (also ``host.reachability``
    through ``LocalReachabilityChanged``) is UNKNOWN until ``threshold`` servers agree."""

    name = "autonat"

    def __init__(self, config: AutonatConfig | None = None) -> None:
        super().__init__()
        self.config = config or AutonatConfig()
        self.policy = ServerPolicy(self.config)
        self.tracker = ReachabilityTracker(self.config.threshold)
        self._probed: dict[PeerId, float] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def protocols(self) -> tuple[str, ...]:
        return (PROTOCOL_ID,) if self.config.serve else ()

    @property
    def reachability(self) -> Reachability:
        return self.tracker.reachability

    async def start(self, host: Host) -> None:
        await super().start(host)
        if self.config.serve:
            host.set_stream_handler(PROTOCOL_ID, self._handle)
        if self.config.probe:
            self._unsubscribe = [host.events.subscribe(PeerProtocolsUpdated, self._maybe_probe)]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # --- client ------------------------------------------------------------------------------------

    def _maybe_probe(self, event: PeerProtocolsUpdated) -> None:
        if PROTOCOL_ID not in event.added:
            return
        now = asyncio.get_running_loop().time()
        last = self._probed.get(event.peer_id)
        if last is not None and now - last < self.config.reprobe_after:
            return
        self._probed[event.peer_id] = now
        self.host.spawn(self._probe_quietly(event.peer_id), f"autonat probe {event.peer_id}")

    async def _probe_quietly(self, server: PeerId) -> None:
        try:
            await self.probe(server)
        except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
            log.debug("AutoNAT probe via %s failed: %r", server, exc)

    def our_addrs(self) -> list[Multiaddr]:
        addrs = [a for a in self.host.addrs if not is_circuit_addr(a)]
        identify = self.host.service(IdentifyService)
        if identify is not None:
            addrs += [a for a in identify.observed_addrs.values() if not is_circuit_addr(a)]
        return list(dict.fromkeys(addrs))

    async def probe(self, server: PeerId) -> DialResponse:
        """Ask ``server`` to dial us back; its answer (also recorded for our reachability)."""
        status: int | None = None
        try:
            async with asyncio.timeout(self.config.stream_timeout):
                stream = await self.host.new_stream(server, [PROTOCOL_ID])
                try:
                    await stream.write(frame(encode_dial(DialRequest(self.host.peer_id, tuple(self.our_addrs())))))
                    response = decode_response(await _read(stream, self.config.stream_timeout))
                except BaseException:
                    await stream.reset()
                    raise
                await stream.close()
            status = response.status
            return response
        finally:
            self.host.events.emit(AutonatProbed(server, status))
            changed = self.tracker.record(server, status)
            if changed is not None:
                log.info("reachability: %s", changed.value)
                self.host.events.emit(LocalReachabilityChanged(changed))

    # --- server ------------------------------------------------------------------------------------

    async def _handle(self, stream: Stream) -> None:
        requester = stream.remote_peer_id
        try:
            request = decode_dial(await _read(stream, self.config.stream_timeout))
        except AutonatDecodeError as exc:
            log.warning("bad AutoNAT request from %s: %s", requester, exc)
            await self._answer(stream, DialResponse(int(ResponseStatus.E_BAD_REQUEST), "malformed request"))
            return
        except (TimeoutError, EOFError):
            await stream.reset()
            return
        conn = stream.conn
        observed = conn.remote_addr
        relayed = is_limited(conn) or (observed is not None and is_circuit_addr(observed))
        now = asyncio.get_running_loop().time()
        status, text, addrs = self.policy.decide(requester, request, observed, relayed, now)
        if status != ResponseStatus.OK:
            await self._answer(stream, DialResponse(int(status), text))
            return
        reached = await self._dial_back(requester, addrs)
        if reached is None:
            await self._answer(stream, DialResponse(int(ResponseStatus.E_DIAL_ERROR), "dial back failed"))
        else:
            await self._answer(stream, DialResponse(int(ResponseStatus.OK), "", reached))

    async def _answer(self, stream: Stream, response: DialResponse) -> None:
        self.host.events.emit(AutonatDialRequested(stream.remote_peer_id, response.status))
        await stream.write(frame(encode_response(response)))

    async def _dial_back(self, peer: PeerId, addrs: list[Multiaddr]) -> Multiaddr | None:
        """Dial ``peer`` on a fresh connection (not the one it asked on), from an ephemeral port;
        the first address that reaches and authenticates it."""
        transports = [t for t in self.host.transports if not t.upgraded and not isinstance(t, CircuitTransport)]
        try:
            async with asyncio.timeout(self.config.dial_timeout):
                for addr in addrs:
                    transport: Any = next((t for t in transports if t.can_dial(addr)), None)
                    if transport is None:
                        continue
                    try:
                        raw = await transport.dial(addr, self.config.dial_timeout, peer_id=peer)
                        conn = await self.host.adopt_connection(raw, peer)
                    except (Libp2pError, OSError, EOFError) as exc:
                        log.debug("AutoNAT dial back to %s at %s: %s", peer, addr, exc)
                        continue
                    await conn.close()
                    return addr
        except TimeoutError:
            pass
        return None
