"""Signed envelopes (libp2p/specs RFC 0002).

An envelope carries a payload, its type, the signer's public key and a signature over
``uvarint(len(domain)) || domain || uvarint(len(payload_type)) || payload_type ||
uvarint(len(payload)) || payload``. The domain never travels: the receiver names the one it
expects, so a signature made for one purpose cannot be replayed for another.
:meth:`SignedEnvelope.open` verifies before it returns, so an unverified envelope never
reaches the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, EnvelopeError, EnvelopeSignatureError
from libp2p.identity.keys import PrivateKey, PublicKey, unmarshal_public_key
from libp2p.pb.wire import fields, length_delimited

__all__ = ["MAX_ENVELOPE_SIZE", "SignedEnvelope", "signing_bytes"]

Bytes = bytes | bytearray | memoryview

# record.pb.Envelope's fields (libp2p/pb/envelope.proto, proto3; by hand: libp2p.pb.wire says why)
_PUBLIC_KEY = 1
_PAYLOAD_TYPE = 2
_PAYLOAD = 3
_SIGNATURE = 5
_FIELDS = frozenset((_PUBLIC_KEY, _PAYLOAD_TYPE, _PAYLOAD, _SIGNATURE))

# Envelopes travel inside identify messages and DHT/gossipsub records, all capped well below
# this; a larger one is refused before it is parsed.
MAX_ENVELOPE_SIZE: Final = 64 * 1024


def signing_bytes(domain: str, payload_type: Bytes, payload: Bytes) -> bytes:
    """The exact bytes an envelope signature covers."""
    d = domain.encode("utf-8")
    return b"".join(
        (
            varint_encode(len(d)),
            d,
            varint_encode(len(payload_type)),
            bytes(payload_type),
            varint_encode(len(payload)),
            bytes(payload),
        )
    )


@dataclass(frozen=True, slots=True)
class SignedEnvelope:
    """A verified (or locally sealed) signed envelope."""

    public_key: PublicKey
    payload_type: bytes
    payload: bytes
    signature: bytes

    @classmethod
    def seal(
        cls, private_key: PrivateKey, domain: str, payload_type: Bytes, payload: Bytes
    ) -> SignedEnvelope:
        """Sign ``payload`` for ``domain`` with ``private_key``."""
        payload_type = bytes(payload_type)
        payload = bytes(payload)
        signature = private_key.sign(signing_bytes(domain, payload_type, payload))
        return cls(private_key.public_key, payload_type, payload, signature)

    def marshal(self) -> bytes:
        """The ``record.pb.Envelope`` protobuf."""
        # proto3: empty bytes fields are left out; the key is crypto.pb.PublicKey (its marshal())
        parts = [length_delimited(_PUBLIC_KEY, self.public_key.marshal())]
        for number, value in ((_PAYLOAD_TYPE, self.payload_type), (_PAYLOAD, self.payload),
                              (_SIGNATURE, self.signature)):
            if value:
                parts.append(length_delimited(number, value))
        return b"".join(parts)

    def verify(self, domain: str) -> bool:
        """True iff the signature is valid for ``domain``."""
        return self.public_key.verify(signing_bytes(domain, self.payload_type, self.payload), self.signature)

    @classmethod
    def open(cls, data: Bytes, domain: str) -> SignedEnvelope:
        """Decode an envelope and verify it for ``domain``.

        Raises :class:`~libp2p.errors.EnvelopeError` for malformed bytes (including a bad
        public key) and :class:`~libp2p.errors.EnvelopeSignatureError` (an ``EnvelopeError``
        and an ``InvalidSignatureError``) when the signature does not verify.
        """
        env = cls._decode(data)
        if not env.verify(domain):
            raise EnvelopeSignatureError(f"envelope signature does not verify for domain {domain!r}")
        return env

    @classmethod
    def open_typed(cls, data: Bytes, domains: Mapping[bytes, str]) -> SignedEnvelope:
        """Decode an envelope and verify it for the domain ``domains`` gives its payload type.

        For payloads signed under more than one convention (rust-libp2p's legacy peer records,
        see :mod:`libp2p.identity.peer_record`). A payload type missing from ``domains`` raises
        :class:`~libp2p.errors.EnvelopeError` before anything is verified; otherwise as :meth:`open`.
        """
        env = cls._decode(data)
        domain = domains.get(env.payload_type)
        if domain is None:
            raise EnvelopeError(f"unexpected envelope payload type {env.payload_type.hex()}")
        if not env.verify(domain):
            raise EnvelopeSignatureError(f"envelope signature does not verify for domain {domain!r}")
        return env

    @classmethod
    def _decode(cls, data: Bytes) -> SignedEnvelope:
        # Decoding alone proves nothing; only open() (decode + verify) is public.
        if len(data) > MAX_ENVELOPE_SIZE:
            raise EnvelopeError(f"envelope of {len(data)} bytes exceeds the {MAX_ENVELOPE_SIZE}-byte limit")
        # Later scalars win; every public_key occurrence merges into one PublicKey (protobuf's rules).
        key_fields: list[tuple[int, int, Any]] = []
        found: dict[int, bytes] = {}
        try:
            for number, wire_type, value in fields(data):
                if wire_type != 2 or number not in _FIELDS:
                    continue  # unknown, or a known field with another wire type: skipped
                if number == _PUBLIC_KEY:
                    key_fields.extend(fields(value))
                found[number] = value
        except DecodeError as exc:
            raise EnvelopeError(f"malformed envelope: {exc}") from exc
        if _PUBLIC_KEY not in found:
            raise EnvelopeError("envelope has no public key")
        try:
            public_key = unmarshal_public_key(_canonical_public_key(key_fields))
        except DecodeError as exc:
            raise EnvelopeError(f"envelope public key is invalid: {exc}") from exc
        payload_type, payload, signature = (found.get(n, b"") for n in (_PAYLOAD_TYPE, _PAYLOAD, _SIGNATURE))
        return cls(public_key, payload_type, payload, signature)


def _canonical_public_key(key_fields: list[tuple[int, int, Any]]) -> bytes:
    """The canonical ``crypto.pb.PublicKey`` of a parsed one (Type = 1, Data = 2, later ones win),
    which the strict key decoder then checks (type, lengths, key bytes). Protobuf would re-encode
    an unknown field or key type after the known ones, which that decoder refuses: so is it here."""
    key_type: int | None = None
    key_data: bytes | None = None
    for number, wire_type, value in key_fields:
        if number == 1 and wire_type == 0 and value <= 3:
            key_type = value
        elif number == 2 and wire_type == 2:
            key_data = value
        else:
            raise DecodeError("public key has an unknown field, or a key type out of range")
    if key_type is None or key_data is None:
        raise DecodeError("public key lacks its Type or Data")
    return b"\x08" + varint_encode(key_type) + b"\x12" + varint_encode(len(key_data)) + key_data
