"""Our Kademlia DHT in one network with go-libp2p-kad-dht, @libp2p/kad-dht and rust-libp2p's kad, on loopback.

The go, js and rust peer programs (``interop/go``, ``interop/js``, ``interop/rust``) run their library's
DHT with ``listen --dht server|client`` and answer ``dht-*`` commands on stdin (see their READMEs).

* A chain: A (go) – B (js) – O (ours) – C (go) – T (js), servers started with ``--dht-no-refresh``
  (ours with ``refresh=False``) and connected only to their neighbours, so each knows only those.
  Client nodes of all four implementations, knowing only A, find T: the lookup walks A, B, O and C,
  four rounds of answers (counted for ours), and the chain's tables are unchanged afterwards, so
  every answer came from the chain. The IDs are chosen to get closer to T along the chain, because
  js-libp2p only follows peers closer to the key than the one that named them.
* A mixed network of 25 DHT servers: 16 of ours, 3 go, 3 js, 2 rust, plus our node under test, which
  bootstraps from one go server. With more servers than k = 20, "the k closest" is a real question:
  for random keys, the answers of ours, go, js and rust are each exactly the true 20 closest, computed
  here from the known membership. A CID our node provides is found by go, js and rust nodes, with our
  address; CIDs that go, js and rust nodes provide are found by ours (and by another foreign
  implementation). A ``/pk`` record we put, go and js get, and one js puts, we get; an IPNS record of
  ours passes go's validator (boxo's), and a newer one go puts replaces it for us.

Both run over TCP (Noise, yamux) and over QUIC v1. js-libp2p's node has no QUIC, so over QUIC the
js places go to rust nodes: the chain is go – rust – ours – go – rust and the network has 3 go and
5 rust servers.

Skipped when Go, Node.js (TCP only) or Rust are missing (failed under ``CI=true``). Every foreign
process is stopped by its own handle; every step is time-bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libp2p.node import new_host
from libp2p.identity.keys import Ed25519PrivateKey, PrivateKey, generate_key_pair
from libp2p.identity.multiformats import CID, SHA2_256, multihash_encode
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.kad import PROTOCOL_ID, KadConfig, KadDHT, create_ipns_record
from libp2p.transport.quic import QuicTransport
from tests.interop.go_peer import GoPeer, require_go_peer
from tests.interop.js_peer import JsPeer, require_js_peer
from tests.interop.peer_program import Event
from tests.interop.rust_peer import RustPeer, require_rust_peer

K = 20
RAW = 0x55
CONFIG = KadConfig(request_timeout=10.0)
CHAIN_TIMEOUT = 90.0
NETWORK_TIMEOUT = 240.0
COMMAND_TIMEOUT = 45.0  # the programs give up on a dht-* command after 30 s
LISTEN = {"tcp": "/ip4/127.0.0.1/tcp/0", "quic-v1": "/ip4/127.0.0.1/udp/0/quic-v1"}


@pytest.fixture(scope="module")
def go_binary() -> Path:
    return require_go_peer()


@pytest.fixture(scope="module")
def rust_binary() -> Path:
    return require_rust_peer()


@pytest.fixture(params=list(LISTEN))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Foreign = GoPeer | JsPeer | RustPeer


@dataclass
class Programs:
    go_binary: Path
    js_dir: Path | None  # None over QUIC
    rust_binary: Path
    transport: str

    @property
    def third(self) -> str:
        """The implementation in js's places: js over TCP, rust over QUIC (js's node has no QUIC)."""
        return "js" if self.js_dir is not None else "rust"

    @contextlib.contextmanager
    def start(self, kind: str, *dht_args: str, mode: str = "server", seed: bytes | None = None) -> Iterator[Foreign]:
        args = ["--dht", mode, *dht_args]
        listen = LISTEN[self.transport]
        if kind == "go":
            with GoPeer.listen(binary=self.go_binary, listen_addr=listen, key_seed=seed, extra_args=args) as peer:
                yield peer
        elif kind == "rust":
            with RustPeer.listen(binary=self.rust_binary, listen_addr=listen, key_seed=seed, connection_monitor=False,
                                 extra_args=args) as peer:
                yield peer
        else:
            assert self.js_dir is not None and self.transport == "tcp"
            # the connection monitor's pings would add nothing here but traffic
            with JsPeer.listen(peer_dir=self.js_dir, key_seed=seed, connection_monitor=False,
                               extra_args=args) as peer:
                yield peer

    @contextlib.asynccontextmanager
    async def ours(self, mode: str = "server", *, refresh: bool = True,
                   key: PrivateKey | None = None) -> AsyncIterator[KadDHT]:
        async with our_dht(mode, refresh=refresh, key=key, transport=self.transport) as dht:
            yield dht


@pytest.fixture
def programs(go_binary: Path, rust_binary: Path, transport: str) -> Programs:
    return Programs(go_binary, require_js_peer() if transport == "tcp" else None, rust_binary, transport)


def pid_of(peer: Foreign) -> PeerId:
    return PeerId.from_string(peer.peer_id)


async def command(peer: Foreign, line: str) -> Event:
    result = await peer.command_async(line, timeout=COMMAND_TIMEOUT)
    assert result["ok"], f"{line!r} failed: {result}\nstderr tail:\n{peer.stderr_text()[-3000:]}"
    return result


async def routing_table(peer: Foreign) -> set[str]:
    return set((await command(peer, "dht-routing-table"))["peers"])


def random_cid() -> CID:
    return CID(1, RAW, multihash_encode(SHA2_256, hashlib.sha256(os.urandom(16)).digest()))


def true_closest(key: bytes, members: list[PeerId], exclude: PeerId, k: int = K) -> list[PeerId]:
    target = int.from_bytes(hashlib.sha256(key).digest(), "big")
    others = [p for p in members if p != exclude]
    return sorted(others, key=lambda p: target ^ int.from_bytes(hashlib.sha256(p.to_bytes()).digest(), "big"))[:k]


@contextlib.asynccontextmanager
async def our_dht(mode: str = "server", *, refresh: bool = True, key: PrivateKey | None = None,
                  transport: str = "tcp") -> AsyncIterator[KadDHT]:
    dht = KadDHT(mode, config=CONFIG, refresh=refresh)  # type: ignore[arg-type]
    options = {"transports": [QuicTransport()]} if transport == "quic-v1" else {}
    async with new_host(key, listen_addrs=[LISTEN[transport]], services=[dht], **options):
        yield dht


async def wait_in_table(dht: KadDHT, peer: PeerId, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while peer not in dht.routing_table:
            await asyncio.sleep(0.02)


def provider_addrs(result: Event, peer: PeerId) -> list[str]:
    for entry in result["providers"]:
        if entry["peer"] == str(peer):
            return list(entry["addrs"])
    raise AssertionError(f"{peer} is not among the providers {result['providers']}")


def has_listen_addr(addrs: list[str] | tuple[Multiaddr, ...], peer_addr: str | Multiaddr) -> bool:
    """Whether ``addrs`` hold the peer's loopback listen address (TCP or QUIC, without /p2p)."""
    want = str(peer_addr).split("/p2p/")[0]
    assert want.startswith("/ip4/127.0.0.1/"), want
    return any(str(a).split("/p2p/")[0] == want for a in addrs)


# --- several hops through go, js and ours, walked by all four ----------------------------------------------------------------


def chain_seeds(rng: random.Random) -> list[bytes]:
    """Ed25519 seeds for A, B, O, C, T whose IDs get strictly closer to T along the chain.

    js-libp2p's lookup only follows a peer named in an answer if it is closer to the key than the
    peer that named it, so a js node can walk the chain only in that order (go and we follow any).
    """
    for _ in range(2000):  # each try succeeds with probability 1/24
        seeds = [rng.randbytes(32) for _ in range(5)]
        ids = [PeerId.from_public_key(Ed25519PrivateKey.from_seed(s).public_key) for s in seeds]
        target = int.from_bytes(hashlib.sha256(ids[-1].to_bytes()).digest(), "big")
        dist = [target ^ int.from_bytes(hashlib.sha256(i.to_bytes()).digest(), "big") for i in ids[:-1]]
        if dist == sorted(dist, reverse=True):
            return seeds
    raise AssertionError("no chain ordering found")


async def test_lookups_of_go_js_and_ours_walk_a_chain_of_all_three(programs: Programs) -> None:
    """A (go) – B (js) – O (ours) – C (go) – T (js), each knowing only its neighbours; client
    nodes of each implementation that know only A find T, four rounds of answers away. (Over QUIC,
    rust takes js's places.)"""
    seeds = chain_seeds(random.Random())
    third = programs.third
    with contextlib.ExitStack() as stack:
        a, b = (stack.enter_context(programs.start(kind, "--dht-no-refresh", seed=seed))
                for kind, seed in (("go", seeds[0]), (third, seeds[1])))
        c, t = (stack.enter_context(programs.start(kind, "--dht-no-refresh", seed=seed))
                for kind, seed in (("go", seeds[3]), (third, seeds[4])))
        finders = [stack.enter_context(programs.start(kind, "--dht-no-refresh", mode="client"))
                   for kind in dict.fromkeys(("go", third, "rust"))]
        async with contextlib.AsyncExitStack() as ours, asyncio.timeout(CHAIN_TIMEOUT):
            o = await ours.enter_async_context(programs.ours(key=Ed25519PrivateKey.from_seed(seeds[2]), refresh=False))
            names = {p.peer_id: n for p, n in ((a, "A"), (b, "B"), (c, "C"), (t, "T"))}
            names[str(o.host.peer_id)] = "O"

            await command(b, f"connect {a.multiaddr}")
            await o.host.connect(b.multiaddr)
            await wait_in_table(o, pid_of(b))
            await command(c, f"connect {o.host.full_addrs()[0]}")
            await command(t, f"connect {c.multiaddr}")
            chain = {"A": {"B"}, "B": {"A", "O"}, "O": {"B", "C"}, "C": {"O", "T"}, "T": {"C"}}

            async def tables() -> dict[str, set[str]]:
                out = {names[p.peer_id]: {names.get(x, x) for x in await routing_table(p)} for p in (a, b, c, t)}
                out["O"] = {names.get(str(x), str(x)) for x in o.routing_table.peers()}
                return out

            # the servers may add a dialer a moment after `connect` returned
            async with asyncio.timeout(15):
                while (now := await tables()) != chain:
                    await asyncio.sleep(0.2)

            # Ours: the lookup walks A (go), B (js), O (ours), C (go), which names T.
            async with programs.ours("client", refresh=False) as dht:
                await dht.host.connect(a.multiaddr)
                await wait_in_table(dht, pid_of(a))
                assert set(dht.routing_table.peers()) == {pid_of(a)}
                result = await dht.lookup(pid_of(t).to_bytes(), target_peer=pid_of(t))
                assert result.target_found and result.target_hops == 4, result
                found = await dht.find_peer(pid_of(t))
                assert found is not None and has_listen_addr(found.addrs, t.multiaddr)

            # go's, js's and rust's clients, knowing only A, find T the same way.
            for finder in finders:
                await command(finder, f"connect {a.multiaddr}")
                assert await routing_table(finder) == {a.peer_id}
                far = await command(finder, f"dht-find-peer {t.peer_id}")
                assert has_listen_addr(far["addrs"], t.multiaddr), far

            # Clients are never added, so the chain is as it was: every answer came from it.
            assert await tables() == chain
            assert now == chain


# --- a mixed network ----------------------------------------------------------------------------------


async def test_mixed_network_agrees_on_closest_peers_and_finds_providers(programs: Programs) -> None:
    rng = random.Random()
    with contextlib.ExitStack() as stack:
        gos = [stack.enter_context(programs.start("go")) for _ in range(3)]
        jss = [stack.enter_context(programs.start(programs.third)) for _ in range(3)]  # rust over QUIC
        rusts = [stack.enter_context(programs.start("rust")) for _ in range(2)]
        foreign: list[Foreign] = [gos[0], jss[0], rusts[0], gos[1], jss[1], rusts[1], gos[2], jss[2]]
        async with contextlib.AsyncExitStack() as ours_stack, asyncio.timeout(NETWORK_TIMEOUT):
            # The foreign servers join one by one, each through the one before.
            for i, peer in enumerate(foreign[1:], 1):
                await command(peer, f"connect {foreign[i - 1].multiaddr}")
                await command(peer, "dht-bootstrap")
            # Sixteen of our servers join, each through a random foreign server.
            ours = [await ours_stack.enter_async_context(programs.ours()) for _ in range(16)]
            await asyncio.gather(*(d.bootstrap([rng.choice(foreign).multiaddr]) for d in ours))
            # Everyone refreshes once more, now that all are in.
            await asyncio.gather(*(d.refresh(force=True) for d in ours), *(command(p, "dht-bootstrap") for p in foreign))

            # Our node under test bootstraps from one go server and learns the network.
            node = await ours_stack.enter_async_context(programs.ours())
            assert await node.bootstrap([gos[2].multiaddr]) >= K
            members = [d.host.peer_id for d in [*ours, node]] + [pid_of(p) for p in foreign]
            assert len(set(members)) == 25
            table = set(node.routing_table.peers())
            assert {pid_of(p) for p in foreign} <= table, "every go, js and rust server is in our table"

            # The k closest peers to random keys: ours, go's, js's and rust's answers are each the truth.
            for _ in range(3):
                key = os.urandom(32)
                assert list(await node.get_closest_peers(key)) == true_closest(key, members, node.host.peer_id)
                for peer in (gos[0], jss[0], rusts[0]):
                    answer = await command(peer, f"dht-closest {key.hex()}")
                    truth = {str(p) for p in true_closest(key, members, pid_of(peer))}
                    assert set(answer["peers"]) == truth, (peer.agent, answer)

            # We provide; go and js find us, with our loopback address.
            ours_cid = random_cid()
            assert await node.provide(ours_cid) > 0
            our_addr = node.host.addrs[0]
            for peer in (gos[1], jss[1], rusts[1]):
                found = await command(peer, f"dht-find-providers {ours_cid.encode()}")
                assert has_listen_addr(provider_addrs(found, node.host.peer_id), our_addr), found

            # go, js and rust provide; we find them (and another implementation does too).
            for provider, other in ((gos[2], jss[2]), (jss[2], rusts[0]), (rusts[0], gos[2])):
                cid = random_cid()
                await command(provider, f"dht-provide {cid.encode()}")
                providers = await node.find_providers(cid)
                by_peer = {p.peer_id: p for p in providers}
                assert pid_of(provider) in by_peer, providers
                assert has_listen_addr(by_peer[pid_of(provider)].addrs, provider.multiaddr)
                found = await command(other, f"dht-find-providers {cid.encode()}")
                assert has_listen_addr(provider_addrs(found, pid_of(provider)), provider.multiaddr)

            # Values. A /pk record we put, go and js get; one js puts, we get.
            for putter_is_ours, getter in ((True, gos[0]), (True, jss[0]), (False, jss[1])):
                key_pair = generate_key_pair()
                pk_key = b"/pk/" + PeerId.from_public_key(key_pair.public_key).to_bytes()
                value = key_pair.public_key.marshal()
                if putter_is_ours:
                    assert await node.put_value(pk_key, value) > 0
                    got = await command(getter, f"dht-get {pk_key.hex()}")
                    assert bytes.fromhex(got["value"]) == value
                else:
                    await command(getter, f"dht-put {pk_key.hex()} {value.hex()}")
                    assert await node.get_value(pk_key) == value
            # An IPNS record of ours that go-libp2p-kad-dht's validator (boxo's ipns) accepts, and
            # a newer one that go puts and we then prefer by its sequence number.
            name_key = generate_key_pair()
            name = PeerId.from_public_key(name_key.public_key)
            ipns_key = b"/ipns/" + name.to_bytes()
            first = create_ipns_record(name_key, b"/ipfs/" + random_cid().encode().encode(), 1, time.time() + 3600)
            assert await node.put_value(ipns_key, first) > 0
            got = await command(gos[1], f"dht-get {ipns_key.hex()}")
            assert bytes.fromhex(got["value"]) == first
            second = create_ipns_record(name_key, b"/ipfs/" + random_cid().encode().encode(), 2, time.time() + 3600)
            await command(gos[1], f"dht-put {ipns_key.hex()} {second.hex()}")
            assert await node.get_value(ipns_key) == second

            # And all of them serve the DHT protocol we announce.
            for peer in foreign:
                assert PROTOCOL_ID in peer.protocols
