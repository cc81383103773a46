"""The Kademlia DHT: records under a namespace of your own, and provider records.

    python examples/dht.py                      # a small network of DHT servers on loopback

An application's records live under ``/<namespace>/…``; each DHT server accepts a record only
if a validator for that namespace says it is valid, and picks the best of several values with
it. Here ``/greeting`` takes UTF-8 text up to 100 bytes, and the longer greeting wins.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

from libp2p import Host, LocalProtocolError, new_host
from libp2p.identity.multiformats import CID, SHA2_256, multihash_encode
from libp2p.protocols.kad import FunctionValidator, InvalidRecordError, KadDHT, NamespacedValidator, default_validator


def is_greeting(key: bytes, value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRecordError("a greeting is UTF-8 text") from None
    return 0 < len(value) <= 100


def validator() -> NamespacedValidator:
    """/pk and /ipns as usual, plus /greeting."""
    return default_validator(greeting=FunctionValidator(is_greeting, better=lambda a, b: len(a) > len(b)))


def dht_node() -> Host:
    return new_host(listen_addrs="/ip4/127.0.0.1/tcp/0",
                    services=[KadDHT("server", validator=validator(), refresh=False)])


def dht_of(host: Host) -> KadDHT:
    dht = host.service(KadDHT)
    assert dht is not None
    return dht


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=6, help="DHT servers to start (default: 6)")
    args = parser.parse_args()

    hosts = [dht_node() for _ in range(args.nodes)]
    for host in hosts:
        await host.start()
    try:
        # Everyone bootstraps from the first node, as from a well-known bootstrap peer.
        boot = hosts[0].full_addrs()[0]
        for host in hosts[1:]:
            await dht_of(host).bootstrap([boot])
        for host in hosts:
            await dht_of(host).refresh(force=True)
        writer, reader, provider, seeker = hosts[1], hosts[-1], hosts[2], hosts[-2]

        key = b"/greeting/world"
        stored = await dht_of(writer).put_value(key, b"hello")
        print(f"put {key.decode()} = 'hello' on {stored} peers")
        await dht_of(writer).put_value(key, b"hello, world")  # longer: the better greeting
        print(f"get {key.decode()} -> {(await dht_of(reader).get_value(key)).decode()!r}")
        try:
            await dht_of(writer).put_value(key, b"\xff not text")
        except LocalProtocolError as exc:  # our own validator refuses it before it is sent
            print(f"refused an invalid greeting: {exc}")

        content = CID(1, 0x55, multihash_encode(SHA2_256, hashlib.sha256(b"some content").digest()))
        told = await dht_of(provider).provide(content)
        print(f"{str(provider.peer_id)[-8:]} provides {content.encode()} (told {told} peers)")
        found = await dht_of(seeker).find_providers(content, count=1)
        print(f"providers found: {[str(p.peer_id)[-8:] for p in found]}")
        # no address of the provider was given: the host has it from the DHT
        rtt = await seeker.ping(provider.peer_id)
        print(f"pinged the provider at the address the DHT gave: {rtt * 1000:.1f} ms")
    finally:
        for host in hosts:
            await host.close()


if __name__ == "__main__":
    asyncio.run(main())
