"""AutoNAT v2 as a host service: the server (answers dial requests, asks for dial data before
dialing an IP other than the requester's, dials back on a fresh connection with the nonce) and
the client (``check(server, addrs)``: is each address reachable? only if the dial-back carried
our nonce)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libp2p.errors import DecodeError, Libp2pError, UnexpectedEOFError
from libp2p.host.events import HostEvent
from libp2p.host.host import is_limited
from libp2p.host.service import Service
from libp2p.protocols.autonatv2.core import (
    AutonatV2Config,
    DialDataReceiver,
    Throttle,
    choose_addr,
    needs_dial_data,
    verdict,
)
from libp2p.protocols.autonatv2.wire import (
    DIAL_BACK_PROTOCOL,
    DIAL_REQUEST_PROTOCOL,
    MAX_DATA_CHUNK,
    MAX_DIAL_BACK_SIZE,
    MAX_MESSAGE_SIZE,
    AutonatV2DecodeError,
    DialDataRequest,
    DialDataResponse,
    DialRequest,
    DialResponse,
    DialStatus,
    ResponseStatus,
    decode_dial_back,
    decode_dial_back_response,
    decode_message,
    encode_dial_back,
    encode_dial_back_response,
    encode_message,
    frame,
)
from libp2p.protocols.relay.core import MessageReader
from libp2p.transport.circuit import CircuitTransport, is_circuit_addr

if TYPE_CHECKING:
    from libp2p.abc import Stream
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["AutonatV2Service", "AddressChecked"]

log = logging.getLogger("libp2p.protocols.autonatv2")


@dataclass(frozen=True, slots=True)
class AddressChecked(HostEvent):
    """``server`` checked ``addr`` for us: ``reachable`` True/False, or None (no verdict)."""

    server: PeerId
    addr: Multiaddr | None
    reachable: bool | None
    status: int
    dial_status: int


async def _read(stream: Stream, limit: int, timeout: float) -> bytes:
    reader = MessageReader(limit)
    async with asyncio.timeout(timeout):
        while True:
            data = await stream.read(reader.wanted())
            if not data:
                raise UnexpectedEOFError("the AutoNAT v2 stream ended")
            try:
                if reader.receive_data(data):
                    break
            except DecodeError as exc:
                raise AutonatV2DecodeError(str(exc)) from None
    assert reader.message is not None
    return reader.message


class AutonatV2Service(Service):
    """AutoNAT v2: the server (``serve``) dials one address of a requester back, after dial data
    when its IP is not the requester's; the client (``check``) learns whether one address of ours
    is reachable, counting a dial-back only when it carries our nonce."""

    name = "autonat-v2"

    def __init__(self, config: AutonatV2Config | None = None) -> None:
        super().__init__()
        self.config = config or AutonatV2Config()
        self.throttle = Throttle(self.config.throttle_peer, self.config.throttle_global, self.config.throttle_period)
        self._nonces: dict[int, asyncio.Event] = {}
        #: server counters: "requests", "dial data bytes", "dials", "refused", "rejected", "declined"
        self.stats: dict[str, int] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def _count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

    @property
    def protocols(self) -> tuple[str, ...]:
        return (DIAL_REQUEST_PROTOCOL, DIAL_BACK_PROTOCOL) if self.config.serve else (DIAL_BACK_PROTOCOL,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(DIAL_BACK_PROTOCOL, self._handle_dial_back)
        if self.config.serve:
            host.set_stream_handler(DIAL_REQUEST_PROTOCOL, self._handle_request)

    # --- client ------------------------------------------------------------------------------------

    async def check(self, server: PeerId, addrs: list[Multiaddr]) -> AddressChecked:
        """Ask ``server`` to dial one of ``addrs`` (in order of priority); its verdict on it."""
        nonce = secrets.randbits(64)
        dialed_back = self._nonces[nonce] = asyncio.Event()
        try:
            async with asyncio.timeout(self.config.stream_timeout + self.config.dial_back_timeout):
                stream = await self.host.new_stream(server, [DIAL_REQUEST_PROTOCOL])
                try:
                    await stream.write(frame(encode_message(DialRequest(tuple(addrs), nonce))))
                    while True:
                        msg = decode_message(await _read(stream, MAX_MESSAGE_SIZE, self.config.stream_timeout))
                        if isinstance(msg, DialResponse):
                            break
                        if not isinstance(msg, DialDataRequest):
                            raise AutonatV2DecodeError(f"unexpected {type(msg).__name__} from the server")
                        await self._send_dial_data(stream, msg, len(addrs))
                except BaseException:
                    await stream.reset()
                    raise
                await stream.close()
        finally:
            del self._nonces[nonce]
        reachable = verdict(msg, len(addrs), dialed_back.is_set())
        addr = addrs[msg.addr_idx] if 0 <= msg.addr_idx < len(addrs) else None
        event = AddressChecked(server, addr, reachable, msg.status, msg.dial_status)
        self.host.events.emit(event)
        return event

    async def _send_dial_data(self, stream: Stream, request: DialDataRequest, count: int) -> None:
        if not 0 <= request.addr_idx < count or request.num_bytes > self.config.data_max:
            raise AutonatV2DecodeError(f"refusing to send {request.num_bytes} bytes of dial data")
        chunk = bytes(MAX_DATA_CHUNK)
        left = request.num_bytes
        while left > 0:
            piece = chunk[: min(left, MAX_DATA_CHUNK)]
            await stream.write(frame(encode_message(DialDataResponse(piece))))
            left -= len(piece)

    async def _handle_dial_back(self, stream: Stream) -> None:
        try:
            nonce = decode_dial_back(await _read(stream, MAX_DIAL_BACK_SIZE, self.config.dial_back_timeout))
        except (AutonatV2DecodeError, EOFError, TimeoutError):
            await stream.reset()
            return
        waiting = self._nonces.get(nonce)
        if waiting is None:
            log.debug("dial-back from %s with a nonce we did not send", stream.remote_peer_id)
            await stream.reset()
            return
        waiting.set()
        await stream.write(frame(encode_dial_back_response()))

    # --- server ------------------------------------------------------------------------------------

    async def _respond(self, stream: Stream, response: DialResponse) -> None:
        await stream.write(frame(encode_message(response)))

    async def _handle_request(self, stream: Stream) -> None:
        peer = stream.remote_peer_id
        timeout = self.config.stream_timeout
        try:
            request = decode_message(await _read(stream, MAX_MESSAGE_SIZE, timeout))
        except (AutonatV2DecodeError, EOFError, TimeoutError):
            await stream.reset()
            return
        if not isinstance(request, DialRequest):
            await stream.reset()
            return
        self._count("requests")
        conn = stream.conn
        observed = conn.remote_addr
        now = asyncio.get_running_loop().time()
        relayed = is_limited(conn) or (observed is not None and is_circuit_addr(observed))
        if relayed or not self.throttle.admit(peer, now):
            self._count("rejected")
            await self._respond(stream, DialResponse(int(ResponseStatus.E_REQUEST_REJECTED)))
            return
        chosen = choose_addr(request.addrs, self.config)
        if chosen is None:
            self._count("refused")
            await self._respond(stream, DialResponse(int(ResponseStatus.E_DIAL_REFUSED)))
            return
        idx, addr = chosen
        if needs_dial_data(addr, observed):
            num_bytes = self.config.data_min + secrets.randbelow(self.config.data_max - self.config.data_min + 1)
            await stream.write(frame(encode_message(DialDataRequest(idx, num_bytes))))
            receiver = DialDataReceiver(num_bytes)
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        msg = decode_message(await _read(stream, MAX_MESSAGE_SIZE, timeout))
                        if not isinstance(msg, DialDataResponse):
                            raise AutonatV2DecodeError("expected dial data")
                        self._count("dial data bytes", len(msg.data))
                        if receiver.receive(msg.data):
                            break
            except (AutonatV2DecodeError, EOFError, TimeoutError, Libp2pError) as exc:
                log.debug("%s did not send its dial data: %r", peer, exc)
                self._count("declined")
                await stream.reset()
                return
        status = await self._dial_back(peer, addr, request.nonce)
        await self._respond(stream, DialResponse(int(ResponseStatus.OK), idx, int(status)))

    async def _dial_back(self, peer: PeerId, addr: Multiaddr, nonce: int) -> DialStatus:
        transport: Any = next((t for t in self.host.transports
                               if not t.upgraded and not isinstance(t, CircuitTransport) and t.can_dial(addr)), None)
        if transport is None:
            return DialStatus.E_DIAL_ERROR
        self._count("dials")
        try:
            async with asyncio.timeout(self.config.dial_back_timeout):
                raw = await transport.dial(addr, self.config.dial_back_timeout, peer_id=peer)
                conn = await self.host.adopt_connection(raw, peer)
        except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
            log.debug("AutoNAT v2 dial to %s at %s: %r", peer, addr, exc)
            return DialStatus.E_DIAL_ERROR
        try:
            async with asyncio.timeout(self.config.dial_back_timeout):
                stream = await self.host.open_stream_on(conn, [DIAL_BACK_PROTOCOL])
                await stream.write(frame(encode_dial_back(nonce)))
                decode_dial_back_response(await _read(stream, MAX_DIAL_BACK_SIZE, self.config.dial_back_timeout))
                await stream.close()
        except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
            log.debug("AutoNAT v2 dial-back stream to %s: %r", peer, exc)
            return DialStatus.E_DIAL_BACK_ERROR
        finally:
            await conn.close()
        return DialStatus.OK
