//! Kademlia DHT (`listen --dht server|client`): libp2p-kad on `/ipfs/kad/1.0.0` with a
//! MemoryStore, the identify → kad glue, and the `dht-*` commands' queries.
//!
//! libp2p-kad 0.49 starts a bootstrap by itself 500 ms after a peer enters a routing table holding
//! fewer than k peers, and that cannot be configured (the throttle is settable only in kad's own
//! tests). With `--dht-no-refresh`, [`Kad`] wraps the behaviour and finishes every bootstrap query
//! it did not start as soon as kad starts it (see README.md).

use std::{
    collections::{HashMap, HashSet},
    task::{Context, Poll},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    kad::{
        self, store::MemoryStore, GetClosestPeersError, GetClosestPeersOk, GetProvidersError, GetProvidersOk,
        GetRecordOk, Mode, NoKnownPeers, QueryId, QueryInfo, QueryResult, Quorum, Record, RecordKey,
    },
    multiaddr::Protocol,
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
        ToSwarm,
    },
    Multiaddr, PeerId, StreamProtocol, Swarm,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::node::{log, to_hex, Behaviour, State};

pub const KAD: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");

#[derive(Clone, Copy, Debug)]
pub struct DhtOptions {
    pub server: bool,
    pub no_refresh: bool,
}

impl DhtOptions {
    pub fn mode(&self) -> &'static str {
        if self.server {
            "server"
        } else {
            "client"
        }
    }
}

// ------------------------------------------------------------------ behaviour

/// libp2p-kad's behaviour (MemoryStore, k = 20 and kad's other defaults, explicit mode) plus the
/// cancelling of automatic bootstraps under `--dht-no-refresh`.
pub struct Kad {
    pub kad: kad::Behaviour<MemoryStore>,
    no_refresh: bool,
    /// bootstraps started by `dht-bootstrap`
    ours: HashSet<QueryId>,
    /// automatic bootstraps finished by us (kad reuses the id for each step of a bootstrap)
    cancelled: HashSet<QueryId>,
}

impl Kad {
    pub fn new(peer: PeerId, o: DhtOptions) -> Kad {
        let mut cfg = kad::Config::new(KAD);
        if o.no_refresh {
            cfg.set_periodic_bootstrap_interval(None);
        }
        let mut kad = kad::Behaviour::with_config(peer, MemoryStore::new(peer), cfg);
        // explicit: kad would otherwise be a client until the swarm confirms an external address
        kad.set_mode(Some(if o.server { Mode::Server } else { Mode::Client }));
        Kad { kad, no_refresh: o.no_refresh, ours: HashSet::new(), cancelled: HashSet::new() }
    }

    pub fn bootstrap(&mut self) -> Result<QueryId, NoKnownPeers> {
        let id = self.kad.bootstrap()?;
        self.ours.insert(id);
        Ok(id)
    }

    pub fn routing_table(&mut self) -> Vec<PeerId> {
        let mut ps: Vec<PeerId> =
            self.kad.kbuckets().flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>()).collect();
        ps.sort();
        ps
    }

    /// The addresses kad knows for `peer`: its routing-table entry and what running queries
    /// learned (the answers' closer peers and providers), as kad offers them to the dialer.
    pub fn known_addrs(&mut self, peer: PeerId) -> Vec<Multiaddr> {
        self.kad
            .handle_pending_outbound_connection(ConnectionId::new_unchecked(0), Some(peer), &[], Endpoint::Dialer)
            .unwrap_or_default()
    }

    fn cancel_auto_bootstrap(&mut self) {
        if !self.no_refresh {
            return;
        }
        for mut q in self.kad.iter_queries_mut() {
            if matches!(q.info(), QueryInfo::Bootstrap { .. }) && !self.ours.contains(&q.id()) {
                q.finish();
                if self.cancelled.insert(q.id()) {
                    log(format!("--dht-no-refresh: cancelled kad's automatic bootstrap {:?}", q.id()));
                }
            }
        }
    }

    /// A query ended: forget its id.
    fn forget(&mut self, id: &QueryId) {
        self.ours.remove(id);
        self.cancelled.remove(id);
    }
}

type Inner = kad::Behaviour<MemoryStore>;

impl NetworkBehaviour for Kad {
    type ConnectionHandler = <Inner as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.kad.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad.handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.kad.handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad.handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.kad.on_swarm_event(event)
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, ev: THandlerOutEvent<Self>) {
        self.kad.on_connection_handler_event(peer, id, ev)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        // kad starts its automatic bootstrap inside poll and returns the query's first request
        // from the same call, before any answer can arrive: finish the query right here
        let r = self.kad.poll(cx);
        self.cancel_auto_bootstrap();
        r
    }
}

// ------------------------------------------------------------------ commands

pub enum Req {
    RoutingTable,
    Bootstrap,
    FindPeer(PeerId),
    Closest(Vec<u8>),
    Provide(Vec<u8>),
    FindProviders(Vec<u8>, usize),
    Put(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
}

pub type Reply = oneshot::Sender<Result<Value, String>>;

enum Kind {
    Bootstrap,
    FindPeer(PeerId),
    Closest,
    Provide,
    Providers { want: usize, found: Vec<Value>, seen: HashSet<PeerId> },
    Put,
    Get,
}

struct Pending {
    reply: Reply,
    kind: Kind,
}

/// The `dht-*` queries in flight, driven by the swarm task.
#[derive(Default)]
pub struct Queries {
    pending: HashMap<QueryId, Pending>,
}

fn kad_of(swarm: &mut Swarm<Behaviour>) -> &mut Kad {
    swarm.behaviour_mut().kad.as_mut().expect("DHT requests are only sent with --dht")
}

/// Transport addresses without a trailing /p2p, deduplicated in order.
fn transport_addrs<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for a in addrs {
        let mut a = a.clone();
        if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
            a.pop();
        }
        let s = a.to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// What the node knows of `peer`'s addresses: ours for ourselves; else kad's (routing table and
/// running queries), identify's listen addresses, and the addresses of our outbound connections.
fn peer_addrs(swarm: &mut Swarm<Behaviour>, state: &State, peer: PeerId) -> Vec<String> {
    if &peer == swarm.local_peer_id() {
        return transport_addrs(state.listen_addrs.iter().map(|(_, a)| a));
    }
    let mut addrs = kad_of(swarm).known_addrs(peer);
    if let Some(info) = state.peer_info.get(&peer) {
        addrs.extend(info.listen_addrs.iter().cloned());
    }
    addrs.extend(
        state.conns.values().filter(|c| c.peer == peer && c.direction == "outbound").map(|c| c.remote_addr.clone()),
    );
    transport_addrs(&addrs)
}

fn table_json(kad: &mut Kad) -> Value {
    json!(kad.routing_table().iter().map(|p| p.to_string()).collect::<Vec<_>>())
}

impl Queries {
    /// Start a request (in the swarm task). Results that need no query are answered at once.
    pub fn start(&mut self, swarm: &mut Swarm<Behaviour>, state: &State, req: Req, reply: Reply) {
        if let Req::FindPeer(peer) = req {
            // a connected peer is answered from what identify told us, without a lookup
            if swarm.is_connected(&peer) {
                let addrs = peer_addrs(swarm, state, peer);
                let _ = reply.send(Ok(json!({"peer": peer.to_string(), "addrs": addrs})));
                return;
            }
        }
        let kad = kad_of(swarm);
        let (id, kind) = match req {
            Req::RoutingTable => {
                let _ = reply.send(Ok(json!({"peers": table_json(kad)})));
                return;
            }
            Req::Bootstrap => match kad.bootstrap() {
                Ok(id) => (id, Kind::Bootstrap),
                Err(e) => {
                    let _ = reply.send(Err(format!("bootstrap: {e}")));
                    return;
                }
            },
            Req::FindPeer(peer) => (kad.kad.get_closest_peers(peer), Kind::FindPeer(peer)),
            Req::Closest(key) => (kad.kad.get_closest_peers(key), Kind::Closest),
            Req::Provide(key) => match kad.kad.start_providing(RecordKey::new(&key)) {
                Ok(id) => (id, Kind::Provide),
                Err(e) => {
                    let _ = reply.send(Err(format!("provide: {e}")));
                    return;
                }
            },
            Req::FindProviders(key, want) => (
                kad.kad.get_providers(RecordKey::new(&key)),
                Kind::Providers { want, found: vec![], seen: HashSet::new() },
            ),
            Req::Put(key, value) => {
                let record = Record::new(RecordKey::new(&key), value);
                match kad.kad.put_record(record, Quorum::One) {
                    Ok(id) => (id, Kind::Put),
                    Err(e) => {
                        let _ = reply.send(Err(format!("put: {e}")));
                        return;
                    }
                }
            }
            Req::Get(key) => (kad.kad.get_record(RecordKey::new(&key)), Kind::Get),
        };
        self.pending.insert(id, Pending { reply, kind });
    }

    /// Stop the kad queries whose command gave up (its reply channel is closed).
    pub fn sweep(&mut self, swarm: &mut Swarm<Behaviour>) {
        let gone: Vec<QueryId> = self.pending.iter().filter(|(_, p)| p.reply.is_closed()).map(|(id, _)| *id).collect();
        for id in gone {
            self.pending.remove(&id);
            self.finish(swarm, id);
        }
    }

    fn finish(&mut self, swarm: &mut Swarm<Behaviour>, id: QueryId) {
        let kad = kad_of(swarm);
        if let Some(mut q) = kad.kad.query_mut(&id) {
            q.finish();
        }
        kad.forget(&id);
    }

    pub fn on_event(&mut self, swarm: &mut Swarm<Behaviour>, state: &State, ev: kad::Event) {
        match ev {
            kad::Event::OutboundQueryProgressed { id, result, step, stats } => {
                let Some(mut p) = self.pending.remove(&id) else {
                    if step.last {
                        kad_of(swarm).forget(&id);
                    }
                    return;
                };
                let done: Option<Result<Value, String>> = match (&mut p.kind, result) {
                    (Kind::Bootstrap, QueryResult::Bootstrap(r)) => match r {
                        // one event per step: the self-lookup, then one per bucket refreshed
                        Ok(_) if !step.last => None,
                        Ok(_) => Some(Ok(json!({"routing_table": table_json(kad_of(swarm))}))),
                        Err(e) => Some(Err(format!("bootstrap: {e}"))),
                    },
                    (Kind::FindPeer(target), QueryResult::GetClosestPeers(r)) => {
                        let target = *target;
                        let peers = match r {
                            Ok(GetClosestPeersOk { peers, .. }) => peers,
                            Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
                        };
                        Some(match peers.into_iter().find(|i| i.peer_id == target) {
                            None => Err("not found".into()),
                            Some(info) => {
                                let mut addrs = transport_addrs(&info.addrs);
                                if addrs.is_empty() {
                                    addrs = peer_addrs(swarm, state, target);
                                }
                                Ok(json!({"peer": target.to_string(), "addrs": addrs}))
                            }
                        })
                    }
                    (Kind::Closest, QueryResult::GetClosestPeers(r)) => Some(match r {
                        Ok(GetClosestPeersOk { peers, .. }) => {
                            let ids: Vec<String> = peers.iter().map(|i| i.peer_id.to_string()).collect();
                            Ok(json!({"count": ids.len(), "peers": ids}))
                        }
                        Err(e) => Err(format!("closest: {e}")),
                    }),
                    (Kind::Provide, QueryResult::StartProviding(r)) => Some(match r {
                        // kad counts an ADD_PROVIDER as a success once it is handed to a
                        // connection, and the FIND_NODE phase's answers as well: no success
                        // at all means no peer was found to take the record
                        Ok(_) if stats.num_successes() > 0 => Ok(json!({})),
                        Ok(_) => Err("no peer took the provider record (no DHT server found)".into()),
                        Err(e) => Err(format!("provide: {e}")),
                    }),
                    (Kind::Providers { want, found, seen }, QueryResult::GetProviders(r)) => match r {
                        Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                            let mut providers: Vec<PeerId> = providers.into_iter().collect();
                            providers.sort();
                            for peer in providers {
                                if found.len() < *want && seen.insert(peer) {
                                    let addrs = peer_addrs(swarm, state, peer);
                                    found.push(json!({"peer": peer.to_string(), "addrs": addrs}));
                                }
                            }
                            (found.len() >= *want || step.last).then(|| Ok(json!({"providers": found})))
                        }
                        Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. })
                        | Err(GetProvidersError::Timeout { .. }) => Some(Ok(json!({"providers": found}))),
                    },
                    (Kind::Put, QueryResult::PutRecord(r)) => Some(match r {
                        Ok(_) => Ok(json!({})),
                        Err(e) => Err(format!("put: {e}")),
                    }),
                    (Kind::Get, QueryResult::GetRecord(r)) => match r {
                        Ok(GetRecordOk::FoundRecord(rec)) => Some(Ok(json!({"value": to_hex(&rec.record.value)}))),
                        Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. }) => Some(Err("not found".into())),
                        Err(kad::GetRecordError::NotFound { .. }) => Some(Err("not found".into())),
                        Err(e) => Some(Err(format!("get: {e}"))),
                    },
                    (_, r) => Some(Err(format!("unexpected kad result {r:?}"))),
                };
                match done {
                    None => {
                        self.pending.insert(id, p);
                    }
                    Some(r) => {
                        let _ = p.reply.send(r);
                        if step.last {
                            kad_of(swarm).forget(&id);
                        } else {
                            self.finish(swarm, id);
                        }
                    }
                }
            }
            kad::Event::InboundRequest { request } => log(format!("dht: inbound request {request:?}")),
            kad::Event::RoutingUpdated { peer, is_new_peer: true, old_peer, .. } => {
                log(format!("dht: {peer} entered the routing table"));
                if let Some(old) = old_peer {
                    log(format!("dht: {old} was evicted from the routing table"));
                }
            }
            _ => {}
        }
    }
}

/// The provider key of a CID: its multihash bytes (what go-libp2p-kad-dht and js kad-dht use).
/// CIDv0 (`Qm...`, base58btc of a sha2-256 multihash) and CIDv1 in any multibase.
pub fn cid_key(s: &str) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("bad CID {s:?}: {why}");
    let bytes = if s.len() == 46 && s.starts_with("Qm") {
        multibase::Base::Base58Btc.decode(s).map_err(|e| bad(&e.to_string()))?
    } else {
        let (_, b) = multibase::decode(s).map_err(|e| bad(&e.to_string()))?;
        let (version, rest) = varint(&b).ok_or_else(|| bad("truncated version"))?;
        if version != 1 {
            return Err(bad(&format!("unsupported CID version {version}")));
        }
        let (_codec, rest) = varint(rest).ok_or_else(|| bad("truncated codec"))?;
        rest.to_vec()
    };
    // a multihash: varint code, varint digest length, digest
    let (_code, rest) = varint(&bytes).ok_or_else(|| bad("truncated multihash"))?;
    let (len, digest) = varint(rest).ok_or_else(|| bad("truncated multihash"))?;
    if digest.len() as u64 != len {
        return Err(bad("multihash length mismatch"));
    }
    Ok(bytes)
}

/// An unsigned LEB128 varint (at most 9 bytes, as multiformats allow) and the rest.
fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, x) in b.iter().enumerate().take(9) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}
