"""Peer records (libp2p/specs RFC 0003): a peer's own signed list of listen addresses.

A record travels as the payload of a :class:`~libp2p.identity.envelope.SignedEnvelope` with
domain ``libp2p-peer-record`` and payload type ``03 01`` (the multicodec code as two raw
bytes, not a varint). After the envelope verifies, the record's peer ID must be the ID of
the envelope's key; :func:`consume_peer_record` checks both.

rust-libp2p's identify still signs its records under RFC 0003's original (legacy) domain and
payload type; ``consume_peer_record(data, legacy=True)`` accepts those too, verified just as
strictly (see :data:`LEGACY_PEER_RECORD_DOMAIN`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Final

from libp2p.errors import DecodeError, LocalProtocolError, PeerRecordError
from libp2p.identity.envelope import MAX_ENVELOPE_SIZE, SignedEnvelope
from libp2p.identity.keys import PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb.wire import fields, length_delimited, varint

__all__ = [
    "LEGACY_PEER_RECORD_DOMAIN",
    "LEGACY_PEER_RECORD_PAYLOAD_TYPE",
    "PEER_RECORD_DOMAIN",
    "PEER_RECORD_PAYLOAD_TYPE",
    "PeerRecord",
    "consume_peer_record",
    "new_seq",
]

Bytes = bytes | bytearray | memoryview

PEER_RECORD_DOMAIN: Final = "libp2p-peer-record"
PEER_RECORD_PAYLOAD_TYPE: Final = b"\x03\x01"
# The same PeerRecord protobuf under RFC 0003's original domain and payload type (the UTF-8
# string, not a multicodec). rust-libp2p still signs identify's records with these: libp2p-core
# 0.44 (rust-libp2p 0.57) src/peer_record.rs, LEGACY_PAYLOAD_TYPE / LEGACY_DOMAIN_SEP, used by
# PeerRecord::new, which libp2p-identify 0.48 src/handler.rs (build_info) calls; only the
# `*_interop` functions there use the standard values above (added by rust-libp2p PR #6230 for
# issue #6204; identify was not switched over). Accepted on receipt, never sent.
LEGACY_PEER_RECORD_DOMAIN: Final = "libp2p-routing-state"
LEGACY_PEER_RECORD_PAYLOAD_TYPE: Final = b"/libp2p/routing-state-record"
_DOMAINS: Final = {
    PEER_RECORD_PAYLOAD_TYPE: PEER_RECORD_DOMAIN,
    LEGACY_PEER_RECORD_PAYLOAD_TYPE: LEGACY_PEER_RECORD_DOMAIN,
}
_MAX_SEQ: Final = (1 << 64) - 1

_seq_lock = threading.Lock()
_last_seq = 0


def new_seq() -> int:
    """A sequence number for a new record: unix time in ns (as go-libp2p), strictly increasing.

    Strictly increasing within this process even when the clock stalls or steps back, since
    receivers drop a record whose seq is not above the last one they kept.
    """
    global _last_seq
    with _seq_lock:
        seq = time.time_ns()
        if seq <= _last_seq:
            seq = _last_seq + 1
        _last_seq = seq
        return seq


class PeerRecord:
    """An immutable peer record: peer ID, sequence number and addresses (in order)."""

    __slots__ = ("_addrs", "_peer_id", "_seq")

    def __init__(self, peer_id: PeerId, seq: int, addrs: Iterable[Multiaddr]) -> None:
        if not 0 <= seq <= _MAX_SEQ:
            raise LocalProtocolError(f"peer record seq must fit in uint64, got {seq}")
        self._peer_id = peer_id
        self._seq = seq
        self._addrs: tuple[Multiaddr, ...] = tuple(addrs)

    @classmethod
    def new(cls, peer_id: PeerId, addrs: Iterable[Multiaddr]) -> PeerRecord:
        """A record with a fresh sequence number from :func:`new_seq`."""
        return cls(peer_id, new_seq(), addrs)

    @property
    def peer_id(self) -> PeerId:
        return self._peer_id

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def addrs(self) -> tuple[Multiaddr, ...]:
        return self._addrs

    def marshal(self) -> bytes:
        """The ``peer.pb.PeerRecord`` protobuf (the envelope payload)."""
        # peer_id (1), seq (2), addresses (3) of AddressInfo{multiaddr (1)}: proto3, so a zero seq
        # is left out (libp2p/pb/peer_record.proto; by hand: libp2p.pb.wire says why)
        parts = [length_delimited(1, bytes(self._peer_id))]
        if self._seq:
            parts.append(b"\x10" + varint(self._seq))
        parts.extend(length_delimited(3, length_delimited(1, bytes(addr))) for addr in self._addrs)
        return b"".join(parts)

    @classmethod
    def unmarshal(cls, data: Bytes) -> PeerRecord:
        """Decode a ``PeerRecord`` protobuf; raises PeerRecordError on malformed input."""
        if len(data) > MAX_ENVELOPE_SIZE:
            raise PeerRecordError(
                f"peer record of {len(data)} bytes exceeds the {MAX_ENVELOPE_SIZE}-byte limit"
            )
        # Later scalars win; a known field with another wire type is skipped (protobuf's rules).
        raw_peer_id = b""
        seq = 0
        raw_addrs: list[bytes] = []
        try:
            for number, wire_type, value in fields(data):
                if number == 1 and wire_type == 2:
                    raw_peer_id = value
                elif number == 2 and wire_type == 0:
                    seq = value
                elif number == 3 and wire_type == 2:
                    multiaddr = b""
                    for inner, inner_type, inner_value in fields(value):
                        if inner == 1 and inner_type == 2:
                            multiaddr = inner_value
                    raw_addrs.append(multiaddr)
        except DecodeError as exc:
            raise PeerRecordError(f"malformed peer record: {exc}") from exc
        try:
            peer_id = PeerId.from_bytes(raw_peer_id)
        except (DecodeError, ValueError) as exc:
            raise PeerRecordError(f"peer record has an invalid peer ID: {exc}") from exc
        addrs = []
        for raw in raw_addrs:
            try:
                addrs.append(Multiaddr.from_bytes(raw))
            except (DecodeError, ValueError) as exc:
                raise PeerRecordError(f"peer record has an invalid multiaddr: {exc}") from exc
        return cls(peer_id, seq, addrs)

    def seal(self, private_key: PrivateKey) -> SignedEnvelope:
        """Sign this record into an envelope; ``private_key`` must be the key of ``peer_id``."""
        if not self._peer_id.matches_public_key(private_key.public_key):
            raise LocalProtocolError("a peer record must be sealed with the key of its own peer ID")
        return SignedEnvelope.seal(private_key, PEER_RECORD_DOMAIN, PEER_RECORD_PAYLOAD_TYPE, self.marshal())

    @classmethod
    def from_envelope(cls, envelope: SignedEnvelope, *, legacy: bool = False) -> PeerRecord:
        """The record inside an already opened (verified) envelope.

        Checks the payload type (with ``legacy``, rust-libp2p's legacy one is allowed too) and
        that the record names the envelope's signer.
        """
        if envelope.payload_type != PEER_RECORD_PAYLOAD_TYPE and not (
            legacy and envelope.payload_type == LEGACY_PEER_RECORD_PAYLOAD_TYPE
        ):
            raise PeerRecordError(
                f"envelope payload type {envelope.payload_type.hex()} is not a peer record (0301)"
            )
        record = cls.unmarshal(envelope.payload)
        if not record._peer_id.matches_public_key(envelope.public_key):
            raise PeerRecordError(f"peer record for {record._peer_id} is signed by another peer's key")
        return record

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PeerRecord):
            return NotImplemented
        return self._peer_id == other._peer_id and self._seq == other._seq and self._addrs == other._addrs

    def __hash__(self) -> int:
        return hash((self._peer_id, self._seq, self._addrs))

    def __repr__(self) -> str:
        addrs = ", ".join(str(a) for a in self._addrs)
        return f"<PeerRecord {self._peer_id} seq={self._seq} addrs=[{addrs}]>"


def consume_peer_record(data: Bytes, *, legacy: bool = False) -> tuple[SignedEnvelope, PeerRecord]:
    """Open a signed peer record: verify the envelope, then decode and check the record.

    With ``legacy``, an envelope whose payload type is :data:`LEGACY_PEER_RECORD_PAYLOAD_TYPE`
    (rust-libp2p's identify) is verified for :data:`LEGACY_PEER_RECORD_DOMAIN` instead; the
    payload type picks the domain, so each kind is only accepted with its own domain.

    Raises :class:`~libp2p.errors.EnvelopeError` subclasses: ``EnvelopeSignatureError`` for a
    bad signature, ``PeerRecordError`` for a bad or mismatched record (a plain ``EnvelopeError``
    for another payload type when ``legacy`` is set).
    """
    if legacy:
        envelope = SignedEnvelope.open_typed(data, _DOMAINS)
    else:
        envelope = SignedEnvelope.open(data, PEER_RECORD_DOMAIN)
    return envelope, PeerRecord.from_envelope(envelope, legacy=legacy)
