"""The IPNS specification's official record vectors, through the record check and the DHT's /ipns validator."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from libp2p.identity.peer_id import PeerId
from libp2p.protocols.kad.ipns import IpnsError, verify_ipns_record
from libp2p.protocols.kad.records import InvalidRecordError, default_validator

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "ipns"

# case -> the value the spec says the record resolves to, or None when the spec says it is invalid
EXPECTED: dict[str, bytes | None] = {
    "v1": None,
    "v1-v2": b"/ipfs/bafkqaddwgevxmmraojswg33smq",
    "v1-v2-broken-v1-value": None,
    "v1-v2-broken-signature-v2": None,
    "v1-v2-broken-signature-v1": b"/ipfs/bafkqahtwgevxmmrao5uxi2bamjzg623fnyqhg2lhnzqxi5lsmuqhmmi",
    "v2": b"/ipfs/bafkqadtwgiww63tmpeqhezldn5zgi",
}


def _vectors() -> dict[str, tuple[PeerId, bytes]]:
    found: dict[str, tuple[PeerId, bytes]] = {}
    for path in VECTORS.glob("*.ipns-record"):
        name, case = path.name.removesuffix(".ipns-record").split("_", 1)
        found[case] = (PeerId.from_string(name), path.read_bytes())
    return found


VECTOR_FILES = _vectors()


def test_every_spec_vector_is_present() -> None:
    assert sorted(VECTOR_FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_record_check_agrees_with_the_spec(case: str) -> None:
    name, raw = VECTOR_FILES[case]
    expected = EXPECTED[case]
    if expected is None:
        with pytest.raises(IpnsError):
            verify_ipns_record(name, raw, time.time())
    else:
        assert verify_ipns_record(name, raw, time.time()).value == expected


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_dht_validator_agrees_with_the_spec(case: str) -> None:
    name, raw = VECTOR_FILES[case]
    key = b"/ipns/" + name.to_bytes()
    validator = default_validator()
    if EXPECTED[case] is None:
        with pytest.raises(InvalidRecordError):
            validator.validate(key, raw)
    else:
        validator.validate(key, raw)
        # the record is for this name only
        other, _ = VECTOR_FILES["v2" if case != "v2" else "v1-v2"]
        with pytest.raises(InvalidRecordError):
            validator.validate(b"/ipns/" + other.to_bytes(), raw)


def test_valid_vectors_expire() -> None:
    name, raw = VECTOR_FILES["v2"]
    end_of_validity = verify_ipns_record(name, raw, time.time()).eol
    with pytest.raises(IpnsError, match="expired"):
        verify_ipns_record(name, raw, end_of_validity + 1)
