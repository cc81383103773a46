"""Circuit relay v2's wire format: HOP and STOP messages, status codes, the reservation voucher.

Messages are uvarint-length-prefixed protobufs (``libp2p/pb/circuit.proto``) of at most
``MAX_MESSAGE_SIZE`` bytes (go's limit). Decoding checks every field we use (peer IDs parse,
addresses are bounded and parse, a message type is present) and raises ``RelayDecodeError``
(a ``DecodeError``), which the service answers with ``MALFORMED_MESSAGE``.

The voucher is a signed envelope (domain ``libp2p-relay-rsvp``, payload type ``03 02``) of a
``ReservationVoucher``; ``open_voucher`` verifies the signature before reading the payload and
checks that the relay signed it about us.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from google.protobuf.message import Error as ProtobufError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, Libp2pError, RemoteProtocolError
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import circuit_pb2, voucher_pb2

__all__ = [
    "HOP_PROTOCOL_ID",
    "STOP_PROTOCOL_ID",
    "MAX_MESSAGE_SIZE",
    "MAX_ADDRS",
    "VOUCHER_DOMAIN",
    "VOUCHER_PAYLOAD_TYPE",
    "Status",
    "HopType",
    "StopType",
    "Limit",
    "PeerInfoMessage",
    "ReservationInfo",
    "HopMessage",
    "StopMessage",
    "Voucher",
    "RelayDecodeError",
    "RelayStatusError",
    "VoucherError",
    "encode_hop",
    "decode_hop",
    "encode_stop",
    "decode_stop",
    "frame",
    "seal_voucher",
    "open_voucher",
]

HOP_PROTOCOL_ID: Final = "/libp2p/circuit/relay/0.2.0/hop"
STOP_PROTOCOL_ID: Final = "/libp2p/circuit/relay/0.2.0/stop"
# go-libp2p's maxMessageSize for both protocols.
MAX_MESSAGE_SIZE: Final = 4096
# Bound on the addresses we keep from one message (a 4 KiB message holds at most a few hundred).
MAX_ADDRS: Final = 32
VOUCHER_DOMAIN: Final = "libp2p-relay-rsvp"
VOUCHER_PAYLOAD_TYPE: Final = b"\x03\x02"


class Status(enum.IntEnum):
    UNUSED = 0
    OK = 100
    RESERVATION_REFUSED = 200
    RESOURCE_LIMIT_EXCEEDED = 201
    PERMISSION_DENIED = 202
    CONNECTION_FAILED = 203
    NO_RESERVATION = 204
    MALFORMED_MESSAGE = 400
    UNEXPECTED_MESSAGE = 401


class HopType(enum.IntEnum):
    RESERVE = 0
    CONNECT = 1
    STATUS = 2


class StopType(enum.IntEnum):
    CONNECT = 0
    STATUS = 1


class RelayDecodeError(DecodeError):
    """A HOP/STOP message or voucher is malformed or over the size limit."""


class RelayStatusError(RemoteProtocolError):
    """The relay (or the target) answered with a status other than OK."""

    def __init__(self, status: int, what: str) -> None:
        try:
            name = Status(status).name
        except ValueError:
            name = f"unknown status {status}"
        super().__init__(f"{what}: {name}")
        self.status = status
        self.code = status


class VoucherError(Libp2pError):
    """A reservation voucher does not verify, or is not the relay's voucher for us."""


@dataclass(frozen=True, slots=True)
class Limit:
    """A circuit's limits: ``duration`` seconds and ``data`` bytes per direction (0: none)."""

    duration: int = 0
    data: int = 0


@dataclass(frozen=True, slots=True)
class PeerInfoMessage:
    peer_id: PeerId
    addrs: tuple[Multiaddr, ...] = ()


@dataclass(frozen=True, slots=True)
class ReservationInfo:
    expire: int | None = None  # unix seconds
    addrs: tuple[Multiaddr, ...] = ()
    voucher: bytes | None = None


@dataclass(frozen=True, slots=True)
class HopMessage:
    type: HopType
    peer: PeerInfoMessage | None = None
    reservation: ReservationInfo | None = None
    limit: Limit | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class StopMessage:
    type: StopType
    peer: PeerInfoMessage | None = None
    limit: Limit | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Voucher:
    relay: PeerId
    peer: PeerId
    expiration: int  # unix seconds
    envelope: bytes = field(default=b"", compare=False)


# --- encoding ---------------------------------------------------------------------------------


def _put_peer(msg: circuit_pb2.Peer, peer: PeerInfoMessage) -> None:
    msg.id = peer.peer_id.to_bytes()
    msg.addrs.extend(bytes(a) for a in peer.addrs)


def _put_limit(msg: circuit_pb2.Limit, limit: Limit) -> None:
    msg.duration = limit.duration
    msg.data = limit.data


def encode_hop(message: HopMessage) -> bytes:
    msg = circuit_pb2.HopMessage(type=int(message.type))  # type: ignore[arg-type]
    if message.peer is not None:
        _put_peer(msg.peer, message.peer)
    if message.reservation is not None:
        rsvp = message.reservation
        msg.reservation.SetInParent()
        if rsvp.expire is not None:
            msg.reservation.expire = rsvp.expire
        msg.reservation.addrs.extend(bytes(a) for a in rsvp.addrs)
        if rsvp.voucher is not None:
            msg.reservation.voucher = rsvp.voucher
    if message.limit is not None:
        _put_limit(msg.limit, message.limit)
    if message.status is not None:
        msg.status = message.status  # type: ignore[assignment]
    return msg.SerializeToString()


def encode_stop(message: StopMessage) -> bytes:
    msg = circuit_pb2.StopMessage(type=int(message.type))  # type: ignore[arg-type]
    if message.peer is not None:
        _put_peer(msg.peer, message.peer)
    if message.limit is not None:
        _put_limit(msg.limit, message.limit)
    if message.status is not None:
        msg.status = message.status  # type: ignore[assignment]
    return msg.SerializeToString()


def frame(body: bytes) -> bytes:
    return varint_encode(len(body)) + body


# --- decoding ---------------------------------------------------------------------------------


def _parse(msg: circuit_pb2.HopMessage | circuit_pb2.StopMessage, data: bytes | bytearray | memoryview) -> None:
    if len(data) > MAX_MESSAGE_SIZE:
        raise RelayDecodeError(f"relay message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    try:
        msg.ParseFromString(bytes(data))
    except (ProtobufError, ValueError) as exc:
        raise RelayDecodeError(f"malformed relay message: {exc}") from None


def _addrs(raw: list[bytes]) -> tuple[Multiaddr, ...]:
    out = []
    for b in raw[:MAX_ADDRS]:
        try:
            out.append(Multiaddr.from_bytes(b))
        except DecodeError:
            continue  # one bad address does not void the message (as go)
    return tuple(out)


def _peer(msg: circuit_pb2.Peer) -> PeerInfoMessage:
    if not msg.HasField("id"):
        raise RelayDecodeError("peer without an id")
    try:
        peer_id = PeerId.from_bytes(msg.id)
    except DecodeError as exc:
        raise RelayDecodeError(f"bad peer id: {exc}") from None
    return PeerInfoMessage(peer_id, _addrs(list(msg.addrs)))


def _limit(msg: circuit_pb2.Limit) -> Limit:
    return Limit(duration=msg.duration, data=msg.data)


def decode_hop(data: bytes | bytearray | memoryview) -> HopMessage:
    msg = circuit_pb2.HopMessage()
    _parse(msg, data)
    if not msg.HasField("type"):
        raise RelayDecodeError("HOP message without a type")
    try:
        kind = HopType(msg.type)
    except ValueError:
        raise RelayDecodeError(f"unknown HOP message type {msg.type}") from None
    reservation = None
    if msg.HasField("reservation"):
        r = msg.reservation
        reservation = ReservationInfo(
            expire=r.expire if r.HasField("expire") else None,
            addrs=_addrs(list(r.addrs)),
            voucher=r.voucher if r.HasField("voucher") else None,
        )
    return HopMessage(
        type=kind,
        peer=_peer(msg.peer) if msg.HasField("peer") else None,
        reservation=reservation,
        limit=_limit(msg.limit) if msg.HasField("limit") else None,
        status=int(msg.status) if msg.HasField("status") else None,
    )


def decode_stop(data: bytes | bytearray | memoryview) -> StopMessage:
    msg = circuit_pb2.StopMessage()
    _parse(msg, data)
    if not msg.HasField("type"):
        raise RelayDecodeError("STOP message without a type")
    try:
        kind = StopType(msg.type)
    except ValueError:
        raise RelayDecodeError(f"unknown STOP message type {msg.type}") from None
    return StopMessage(
        type=kind,
        peer=_peer(msg.peer) if msg.HasField("peer") else None,
        limit=_limit(msg.limit) if msg.HasField("limit") else None,
        status=int(msg.status) if msg.HasField("status") else None,
    )


# --- the voucher ------------------------------------------------------------------------------


def seal_voucher(relay_key: PrivateKey, peer: PeerId, expiration: int) -> bytes:
    """The relay's signed voucher for ``peer``'s reservation (a marshalled envelope)."""
    relay = PeerId.from_public_key(relay_key.public_key)
    payload = voucher_pb2.ReservationVoucher(relay=relay.to_bytes(), peer=peer.to_bytes(), expiration=expiration)
    return SignedEnvelope.seal(relay_key, VOUCHER_DOMAIN, VOUCHER_PAYLOAD_TYPE, payload.SerializeToString()).marshal()


def open_voucher(data: bytes, *, relay: PeerId, peer: PeerId) -> Voucher:
    """Verify ``data`` (signature first), then check it is ``relay``'s voucher for ``peer``.

    Raises ``VoucherError`` for a bad signature, a voucher signed by a key other than the
    relay's, or a payload naming another relay or peer."""
    try:
        envelope = SignedEnvelope.open(data, VOUCHER_DOMAIN)
    except Libp2pError as exc:
        raise VoucherError(f"voucher does not verify: {exc}") from None
    if envelope.payload_type != VOUCHER_PAYLOAD_TYPE:
        raise VoucherError(f"voucher has payload type {envelope.payload_type.hex()}")
    if not relay.matches_public_key(envelope.public_key):
        raise VoucherError("voucher is not signed by the relay")
    msg = voucher_pb2.ReservationVoucher()
    try:
        msg.ParseFromString(envelope.payload)
        signed_relay = PeerId.from_bytes(msg.relay)
        signed_peer = PeerId.from_bytes(msg.peer)
    except (ProtobufError, ValueError, DecodeError) as exc:
        raise VoucherError(f"malformed voucher: {exc}") from None
    if signed_relay != relay or signed_peer != peer:
        raise VoucherError("voucher names another relay or peer")
    if not msg.HasField("expiration"):
        raise VoucherError("voucher without an expiration")
    return Voucher(signed_relay, signed_peer, msg.expiration, bytes(data))
