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
from typing import Final

from google.protobuf.message import Error as _ProtobufError

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError, EnvelopeError, EnvelopeSignatureError
from libp2p.identity.keys import PrivateKey, PublicKey, unmarshal_public_key
from libp2p.pb import crypto_pb2, envelope_pb2

__all__ = ["MAX_ENVELOPE_SIZE", "SignedEnvelope", "signing_bytes"]

Bytes = bytes | bytearray | memoryview

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
        key = self.public_key
        msg = envelope_pb2.Envelope(
            public_key=crypto_pb2.PublicKey(Type=key.key_type.name, Data=key.raw()),
            payload_type=self.payload_type,
            payload=self.payload,
            signature=self.signature,
        )
        return msg.SerializeToString()

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
        msg = envelope_pb2.Envelope()
        try:
            msg.ParseFromString(bytes(data))
        except (_ProtobufError, ValueError, TypeError) as exc:
            raise EnvelopeError(f"malformed envelope: {exc}") from exc
        if not msg.HasField("public_key"):
            raise EnvelopeError("envelope has no public key")
        try:
            # Re-encoding the parsed PublicKey gives the canonical form, which the strict key
            # decoder then checks (type, lengths, key bytes).
            public_key = unmarshal_public_key(msg.public_key.SerializePartialToString())
        except (DecodeError, _ProtobufError) as exc:
            raise EnvelopeError(f"envelope public key is invalid: {exc}") from exc
        return cls(public_key, msg.payload_type, msg.payload, msg.signature)
