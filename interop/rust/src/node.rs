//! The libp2p node shared by every mode: transport, behaviours, a task driving the swarm, and the
//! stream protocols (echo, hash, perf, ping-by-hand).

use std::{
    collections::{HashMap, HashSet},
    io,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{future::Either, AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    core::{
        muxing::StreamMuxerBox,
        transport::{Boxed, ListenerId},
        upgrade::{SelectUpgrade, Version},
        ConnectedPoint, Transport,
    },
    identify,
    identity::Keypair,
    multiaddr::Protocol,
    noise, ping, quic,
    swarm::{behaviour::toggle::Toggle, dial_opts::DialOpts, ConnectionId, NetworkBehaviour, SwarmEvent},
    tcp, tls, yamux, Multiaddr, PeerId, Stream, StreamProtocol, Swarm,
};
use std::sync::atomic::{AtomicBool, Ordering};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::{dht, inbound, pubsub};

pub const YAMUX: &str = "/yamux/1.0.0";
pub const MPLEX: &str = "/mplex/6.7.0";
pub const NOISE: &str = "/noise";
pub const TLS: &str = "/tls/1.0.0";
/// TCP connections use TLS instead of Noise (transport-interop `security=tls`); QUIC is always on.
pub static USE_TLS: AtomicBool = AtomicBool::new(false);
pub const ECHO: StreamProtocol = StreamProtocol::new("/echo/1.0.0");
pub const HASH: StreamProtocol = StreamProtocol::new("/hash/1.0.0");
pub const PERF: StreamProtocol = StreamProtocol::new("/perf/1.0.0");
pub const PING: StreamProtocol = StreamProtocol::new("/ipfs/ping/1.0.0");
pub const PROTOCOL_VERSION: &str = "ipfs/0.1.0";
pub const AGENT: &str = concat!("rust-libp2p/0.57.1 aiolibp2p-rust-peer/", env!("CARGO_PKG_VERSION"));
const CHUNK: usize = 64 * 1024;

pub fn log(msg: impl AsRef<str>) {
    eprintln!("[rust-peer] {}", msg.as_ref());
}

/// One JSON object per line on stdout (Rust's stdout is line buffered, so each line is flushed).
pub fn emit(v: &Value) {
    println!("{}", v);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Muxer {
    Yamux,
    Mplex,
}

impl Muxer {
    pub fn parse(s: &str) -> Option<Muxer> {
        match s {
            "yamux" => Some(Muxer::Yamux),
            "mplex" => Some(Muxer::Mplex),
            _ => None,
        }
    }
    pub fn id(self) -> &'static str {
        match self {
            Muxer::Yamux => YAMUX,
            Muxer::Mplex => MPLEX,
        }
    }
    pub fn other(self) -> Muxer {
        match self {
            Muxer::Yamux => Muxer::Mplex,
            Muxer::Mplex => Muxer::Yamux,
        }
    }
}

// ------------------------------------------------------------------ transport

/// Negotiated muxer per (peer, remote address), filled in by the transport, read when the swarm
/// reports the connection (rust-libp2p does not expose the negotiated muxer otherwise).
type MuxerMap = Arc<Mutex<HashMap<(PeerId, Multiaddr), &'static str>>>;

fn yamux_config() -> yamux::Config {
    let mut c = yamux::Config::default();
    c.set_max_num_streams(4096);
    c
}

fn mplex_config() -> libp2p_mplex::Config {
    let mut c = libp2p_mplex::Config::new();
    c.set_max_num_streams(4096);
    c.set_max_buffer_size(4096);
    c.set_max_buffer_behaviour(libp2p_mplex::MaxBufferBehaviour::Block);
    c
}

fn record(map: &MuxerMap, peer: PeerId, ep: &ConnectedPoint, name: &'static str) {
    map.lock().unwrap().insert((peer, ep.get_remote_address().clone()), name);
}

/// The authenticated TCP transport `$base` with the muxers in preference order (one or two).
macro_rules! muxed {
    ($base:expr, $muxers:expr, $map:expr, $timeout:expr) => {{
        let base = $base;
        let map = $map;
        let timeout = $timeout;
        let muxers = $muxers;
        match muxers {
        [Muxer::Yamux] => base
            .multiplex(yamux_config())
            .timeout(timeout)
            .map(move |(p, m), ep| {
                record(&map, p, &ep, YAMUX);
                (p, StreamMuxerBox::new(m))
            })
            .boxed(),
        [Muxer::Mplex] => base
            .multiplex(mplex_config())
            .timeout(timeout)
            .map(move |(p, m), ep| {
                record(&map, p, &ep, MPLEX);
                (p, StreamMuxerBox::new(m))
            })
            .boxed(),
        [Muxer::Yamux, Muxer::Mplex] => base
            .multiplex(SelectUpgrade::new(yamux_config(), mplex_config()))
            .timeout(timeout)
            .map(move |(p, m), ep| {
                let name = if matches!(m, Either::Left(_)) { YAMUX } else { MPLEX };
                record(&map, p, &ep, name);
                (p, StreamMuxerBox::new(m))
            })
            .boxed(),
        [Muxer::Mplex, Muxer::Yamux] => base
            .multiplex(SelectUpgrade::new(mplex_config(), yamux_config()))
            .timeout(timeout)
            .map(move |(p, m), ep| {
                let name = if matches!(m, Either::Left(_)) { MPLEX } else { YAMUX };
                record(&map, p, &ep, name);
                (p, StreamMuxerBox::new(m))
            })
            .boxed(),
        _ => return Err(format!("unsupported muxer list {muxers:?}")),
        }
    }};
}

/// TCP or WebSocket + Noise (or TLS when `USE_TLS`) + the muxers in preference order (one or two),
/// and QUIC v1.
fn build_transport(key: &Keypair, muxers: &[Muxer], map: MuxerMap) -> Result<Boxed<(PeerId, StreamMuxerBox)>, String> {
    // WebSocket (/ws, over its own TCP transport) or plain TCP, then the same upgrade.
    let tcp = || tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
    let tcp_base = || libp2p::websocket::Config::new(tcp()).or_transport(tcp()).upgrade(Version::V1Lazy);
    let timeout = Duration::from_secs(20);
    let t = if USE_TLS.load(Ordering::Relaxed) {
        let tls = tls::Config::new(key).map_err(|e| format!("tls: {e}"))?;
        muxed!(tcp_base().authenticate(tls), muxers, map, timeout)
    } else {
        let noise = noise::Config::new(key).map_err(|e| format!("noise: {e}"))?;
        muxed!(tcp_base().authenticate(noise), muxers, map, timeout)
    };
    let quic = quic::tokio::Transport::new(quic::Config::new(key)).map(|(p, c), _| (p, StreamMuxerBox::new(c)));
    Ok(t.or_transport(quic)
        .map(|either, _| match either {
            Either::Left(out) => out,
            Either::Right(out) => out,
        })
        .boxed())
}

// ------------------------------------------------------------------ behaviour

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    streams: libp2p_stream::Behaviour,
    inbound: inbound::Behaviour,
    pub(crate) kad: Toggle<dht::Kad>,
    mdns: Toggle<libp2p::mdns::tokio::Behaviour>,
    pub(crate) pubsub: pubsub::Pubsub,
}

// ------------------------------------------------------------------ state

#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub id: ConnectionId,
    pub peer: PeerId,
    pub remote_addr: Multiaddr,
    pub direction: &'static str,
    pub muxer: Option<&'static str>,
}

impl ConnInfo {
    pub fn json(&self) -> Value {
        json!({
            "id": conn_id_str(self.id),
            "peer": self.peer.to_string(),
            "remote_addr": with_p2p(&self.remote_addr, self.peer).to_string(),
            "direction": self.direction,
            "muxer": self.muxer,
            "encryption": encryption(self.muxer),
        })
    }
}

/// The security protocol of a connection: none over QUIC (no muxer recorded), TLS or Noise over TCP.
pub fn encryption(muxer: Option<&str>) -> Option<&'static str> {
    muxer.map(|_| if USE_TLS.load(Ordering::Relaxed) { TLS } else { NOISE })
}

pub fn conn_id_str(id: ConnectionId) -> String {
    // ConnectionId has no public accessor; its Debug form is "ConnectionId(N)"
    let s = format!("{id:?}");
    s.trim_start_matches("ConnectionId(").trim_end_matches(')').to_string()
}

/// What the swarm task learned; read by the modes.
#[derive(Default)]
pub struct State {
    pub listen_addrs: Vec<(ListenerId, Multiaddr)>,
    pub conns: HashMap<ConnectionId, ConnInfo>,
    pub closed: HashMap<ConnectionId, String>,
    pub dial_errors: HashMap<ConnectionId, String>,
    /// our identify request's answer per connection (JSON as in the js peer)
    pub identified: HashMap<ConnectionId, Value>,
    pub identify_errors: HashMap<ConnectionId, String>,
    /// identify/push received (later `identify::Event::Received` on a connection)
    pub pushes: Vec<(PeerId, Value)>,
    /// the latest identify info per peer (our stand-in for a peer store)
    pub peer_info: HashMap<PeerId, identify::Info>,
    /// results of rust-libp2p's ping behaviour
    pub pings: Vec<(ConnectionId, Result<Duration, String>)>,
}

pub type Shared = Arc<Mutex<State>>;

enum Cmd {
    Dial(Multiaddr, oneshot::Sender<Result<ConnectionId, String>>),
    Listen(Multiaddr, oneshot::Sender<Result<ListenerId, String>>),
    Push(Vec<PeerId>),
    DisconnectAll,
    Dht(dht::Req, dht::Reply),
    Pubsub(pubsub::Req, pubsub::Reply),
}

/// Callback for event lines (`--events`); None when events are off.
pub type Reporter = Arc<dyn Fn(Value) + Send + Sync>;

#[derive(Clone)]
pub struct Node {
    pub peer_id: PeerId,
    pub state: Shared,
    pub control: libp2p_stream::Control,
    pub registry: inbound::Registry,
    pub dht: Option<dht::DhtOptions>,
    pub pubsub: Option<pubsub::PubsubOptions>,
    cmds: mpsc::UnboundedSender<Cmd>,
}

pub struct NodeOptions {
    pub key: Keypair,
    pub muxers: Vec<Muxer>,
    pub agent: String,
    pub signed_peer_record: bool,
    /// rust-libp2p's ping behaviour interval (it pings every connection right away, then every interval)
    pub ping_interval: Duration,
    pub protocols: Vec<StreamProtocol>,
    /// where `stream` events of inbound echo/hash streams go (events line and/or the dial result)
    pub report: Reporter,
    /// print connection / identify events as they happen
    pub events: bool,
    /// `--mdns`: discover peers on the local network and dial them
    pub mdns: bool,
    /// `--dht server|client [--dht-no-refresh]`
    pub dht: Option<dht::DhtOptions>,
    /// `--pubsub gossipsub|floodsub [--pubsub-sign strict|none]`
    pub pubsub: Option<pubsub::PubsubOptions>,
}

impl Node {
    pub fn start(opts: NodeOptions) -> Result<Node, String> {
        let peer_id = opts.key.public().to_peer_id();
        let map: MuxerMap = Default::default();
        let transport = build_transport(&opts.key, &opts.muxers, map.clone())?;
        let id_cfg = if opts.signed_peer_record {
            identify::Config::new_with_signed_peer_record(PROTOCOL_VERSION.to_string(), &opts.key)
        } else {
            identify::Config::new(PROTOCOL_VERSION.to_string(), opts.key.public())
        }
        .with_agent_version(opts.agent.clone())
        // one identify request per connection (at connection start); later ones would look
        // like pushes to us
        .with_interval(Duration::from_secs(24 * 3600));
        let streams = libp2p_stream::Behaviour::new();
        let control = streams.new_control();
        let (inbound_b, registry, inbound_rx) = inbound::Behaviour::new(opts.protocols.clone());
        let behaviour = Behaviour {
            identify: identify::Behaviour::new(id_cfg),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(opts.ping_interval).with_timeout(Duration::from_secs(10)),
            ),
            streams,
            inbound: inbound_b,
            kad: Toggle::from(opts.dht.map(|o| dht::Kad::new(peer_id, o))),
            mdns: Toggle::from(if opts.mdns {
                Some(libp2p::mdns::tokio::Behaviour::new(Default::default(), peer_id).map_err(|e| format!("mdns: {e}"))?)
            } else {
                None
            }),
            pubsub: pubsub::Pubsub::new(&opts.key, opts.pubsub.as_ref())?,
        };
        let cfg = libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(3600))
            .with_max_negotiating_inbound_streams(4096);
        let swarm = Swarm::new(transport, behaviour, peer_id, cfg);
        let state: Shared = Default::default();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(swarm, rx, state.clone(), map, opts.events.then(|| opts.report.clone())));
        tokio::spawn(serve_inbound(inbound_rx, opts.report.clone()));
        Ok(Node { peer_id, state, control, registry, dht: opts.dht, pubsub: opts.pubsub, cmds: tx })
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<ConnectionId, String> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Dial(addr, tx)).map_err(|_| "swarm task gone".to_string())?;
        rx.await.map_err(|_| "swarm task gone".to_string())?
    }

    pub async fn listen(&self, addr: Multiaddr) -> Result<ListenerId, String> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Listen(addr, tx)).map_err(|_| "swarm task gone".to_string())?;
        rx.await.map_err(|_| "swarm task gone".to_string())?
    }

    /// Run a DHT request in the swarm task (the node must run a DHT).
    pub async fn dht(&self, req: dht::Req) -> Result<Value, String> {
        if self.dht.is_none() {
            return Err("no DHT: start with --dht server|client".into());
        }
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Dht(req, tx)).map_err(|_| "swarm task gone".to_string())?;
        rx.await.map_err(|_| "swarm task gone".to_string())?
    }

    /// Run a pubsub request in the swarm task.
    pub async fn pubsub(&self, req: pubsub::Req) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Pubsub(req, tx)).map_err(|_| "swarm task gone".to_string())?;
        rx.await.map_err(|_| "swarm task gone".to_string())?
    }

    pub fn push(&self, peers: Vec<PeerId>) {
        let _ = self.cmds.send(Cmd::Push(peers));
    }

    /// Close every connection gracefully and wait (bounded) until they are gone.
    pub async fn close_all(&self, limit: Duration) {
        let _ = self.cmds.send(Cmd::DisconnectAll);
        let _ = self.wait_for(limit, |s| s.conns.is_empty().then_some(())).await;
    }

    /// Poll the shared state until `f` returns Some, at most `limit`.
    pub async fn wait_for<T>(&self, limit: Duration, mut f: impl FnMut(&State) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f(&self.state.lock().unwrap()) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Dial and wait until the connection is up (or failed).
    pub async fn connect(&self, addr: Multiaddr, limit: Duration) -> Result<ConnInfo, String> {
        let id = self.dial(addr).await?;
        let r = self
            .wait_for(limit, |s| {
                if let Some(c) = s.conns.get(&id) {
                    Some(Ok(c.clone()))
                } else if let Some(e) = s.dial_errors.get(&id) {
                    Some(Err(e.clone()))
                } else {
                    s.closed.get(&id).map(|e| Err(format!("connection closed at once: {e}")))
                }
            })
            .await;
        r.unwrap_or_else(|| Err(format!("no connection within {} ms", limit.as_millis())))
    }

    pub fn connected(&self, peer: &PeerId) -> bool {
        self.state.lock().unwrap().conns.values().any(|c| &c.peer == peer)
    }

    pub async fn open(&self, peer: PeerId, proto: StreamProtocol) -> Result<Stream, String> {
        let mut control = self.control.clone();
        match tokio::time::timeout(Duration::from_secs(10), control.open_stream(peer, proto.clone())).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("open {proto}: {e}")),
            Err(_) => Err(format!("open {proto}: timed out after 10 s")),
        }
    }
}

pub fn with_p2p(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.clone()
    } else {
        addr.clone().with(Protocol::P2p(peer))
    }
}

pub fn spr_json(info: &identify::Info) -> Value {
    match &info.signed_peer_record {
        None => Value::Null,
        Some(env) => match libp2p::core::PeerRecord::from_signed_envelope(env.clone()) {
            Ok(rec) => json!({
                "seq": rec.seq().to_string(),
                "addrs": rec.addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            }),
            Err(_) => Value::Null,
        },
    }
}

pub fn identify_json(peer: PeerId, info: &identify::Info) -> Value {
    json!({
        "peer": peer.to_string(),
        "agent": info.agent_version,
        "protocol_version": info.protocol_version,
        "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "observed_addr": if info.observed_addr.is_empty() { Value::Null } else { Value::String(info.observed_addr.to_string()) },
        // rust-libp2p drops an identify message whose key does not match the peer id
        "has_public_key": true,
        "signed_peer_record": spr_json(info),
    })
}

/// The js peer's `peer_store` object, emulated from the last identify info (rust-libp2p has no
/// peer store in this configuration): addresses are the identify listen addresses, `certified`
/// when they came from a verified signed peer record.
pub fn peer_store_json(info: Option<&identify::Info>) -> Value {
    match info {
        None => Value::Null,
        Some(info) => {
            let certified = info.signed_peer_record.is_some();
            json!({
                "addresses": info.listen_addrs.iter().map(|a| json!({"addr": a.to_string(), "certified": certified})).collect::<Vec<_>>(),
                "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "agent": info.agent_version,
                "protocol_version": info.protocol_version,
                "has_public_key": true,
                "has_peer_record": certified,
            })
        }
    }
}

// ------------------------------------------------------------------ swarm task

/// `{"event": name, ...fields}` (the event name first, as in the js peer's lines)
pub fn tagged(name: &str, fields: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("event".into(), name.into());
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

async fn drive(
    mut swarm: Swarm<Behaviour>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    state: Shared,
    map: MuxerMap,
    report: Option<Reporter>,
) {
    let ev = |v: Value| {
        if let Some(r) = &report {
            r(v)
        }
    };
    let mut identified_conns: HashSet<ConnectionId> = HashSet::new();
    let with_dht = swarm.behaviour().kad.is_enabled();
    let mut queries = dht::Queries::default();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    let with_pubsub = pubsub::Watch::enabled(&swarm);
    let mut pubsub_watch = pubsub::Watch::default();
    let mut pubsub_tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = sweep.tick(), if with_dht => queries.sweep(&mut swarm),
            _ = pubsub_tick.tick(), if with_pubsub => pubsub_watch.tick(&mut swarm, &ev),
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(Cmd::Dial(addr, reply)) => {
                    let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                    // a /p2p/ suffix is checked by the swarm (WrongPeerId)
                    let opts = match addr.iter().last() {
                        Some(Protocol::P2p(peer)) => DialOpts::peer_id(peer)
                            .addresses(vec![addr.clone()])
                            .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                            .build(),
                        _ => opts,
                    };
                    let id = opts.connection_id();
                    let _ = reply.send(swarm.dial(opts).map(|_| id).map_err(|e| e.to_string()));
                }
                Some(Cmd::Listen(addr, reply)) => {
                    let _ = reply.send(swarm.listen_on(addr).map_err(|e| e.to_string()));
                }
                Some(Cmd::Push(peers)) => swarm.behaviour_mut().identify.push(peers),
                Some(Cmd::DisconnectAll) => {
                    let peers: HashSet<PeerId> = swarm.connected_peers().cloned().collect();
                    for p in peers {
                        let _ = swarm.disconnect_peer_id(p);
                    }
                }
                Some(Cmd::Pubsub(req, reply)) => pubsub_watch.handle(&mut swarm, req, reply),
                Some(Cmd::Dht(req, reply)) => {
                    let s = state.lock().unwrap();
                    queries.start(&mut swarm, &s, req, reply);
                }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    log(format!("listening on {address}"));
                    if with_dht {
                        // kad's ADD_PROVIDER carries only the swarm's external addresses, and go
                        // rejects a provider record without addresses: our listen addresses
                        // (loopback included) are our external addresses
                        swarm.add_external_address(address.clone());
                    }
                    state.lock().unwrap().listen_addrs.push((listener_id, address));
                }
                SwarmEvent::ExpiredListenAddr { listener_id, address } => {
                    state.lock().unwrap().listen_addrs.retain(|(l, a)| !(l == &listener_id && a == &address));
                }
                SwarmEvent::ListenerError { error, .. } => log(format!("listener error: {error}")),
                SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                    let muxer = map.lock().unwrap().remove(&(peer_id, endpoint.get_remote_address().clone()));
                    let info = ConnInfo {
                        id: connection_id,
                        peer: peer_id,
                        remote_addr: endpoint.get_remote_address().clone(),
                        direction: if endpoint.is_dialer() { "outbound" } else { "inbound" },
                        muxer,
                    };
                    log(format!("connection {} {} {} via {} + {}", conn_id_str(connection_id), info.direction,
                        peer_id, encryption(muxer).unwrap_or("quic"), muxer.unwrap_or("?")));
                    let j = tagged("connection_open", info.json());
                    state.lock().unwrap().conns.insert(connection_id, info);
                    ev(j);
                }
                SwarmEvent::ConnectionClosed { connection_id, cause, peer_id, .. } => {
                    let why = cause.map(|c| c.to_string()).unwrap_or_else(|| "closed".into());
                    log(format!("connection {} to {peer_id} closed: {why}", conn_id_str(connection_id)));
                    identified_conns.remove(&connection_id);
                    let info = {
                        let mut s = state.lock().unwrap();
                        s.closed.insert(connection_id, why);
                        s.conns.remove(&connection_id)
                    };
                    if let Some(info) = info {
                        ev(tagged("connection_close", info.json()));
                    }
                }
                SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                    log(format!("dial failed: {error}"));
                    state.lock().unwrap().dial_errors.insert(connection_id, error.to_string());
                }
                SwarmEvent::IncomingConnectionError { error, send_back_addr, .. } => {
                    log(format!("incoming connection from {send_back_addr} failed: {error}"));
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => match e {
                    identify::Event::Received { connection_id, peer_id, info } => {
                        let j = identify_json(peer_id, &info);
                        let first = identified_conns.insert(connection_id);
                        if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                            // the identify → kad glue: a peer serving the DHT enters our table
                            if info.protocols.contains(&dht::KAD) {
                                for a in &info.listen_addrs {
                                    kad.kad.add_address(&peer_id, a.clone());
                                }
                            } else if kad.kad.remove_peer(&peer_id).is_some() {
                                log(format!("dht: {peer_id} no longer serves {}: removed from the routing table", dht::KAD));
                            }
                        }
                        log(format!("{} from {peer_id}: {j}", if first { "identify" } else { "identify push" }));
                        let mut s = state.lock().unwrap();
                        s.peer_info.insert(peer_id, info.clone());
                        let line = if first {
                            s.identified.insert(connection_id, j.clone());
                            let mut j = tagged("identify", j);
                            j["peer_store"] = peer_store_json(Some(&info));
                            j
                        } else {
                            s.pushes.push((peer_id, j.clone()));
                            tagged("identify_push", j)
                        };
                        drop(s);
                        ev(line);
                    }
                    identify::Event::Error { connection_id, peer_id, error } => {
                        let msg = error.to_string();
                        log(format!("identify error with {peer_id}: {msg}"));
                        state.lock().unwrap().identify_errors.insert(connection_id, msg.clone());
                        ev(json!({"event": "identify_error", "peer": peer_id.to_string(), "error": msg}));
                    }
                    _ => {}
                },
                SwarmEvent::Behaviour(BehaviourEvent::Ping(p)) => {
                    let r = p.result.map_err(|e| e.to_string());
                    if let Err(e) = &r {
                        log(format!("ping behaviour: {} {e}", p.peer));
                    }
                    state.lock().unwrap().pings.push((p.connection, r));
                }
                SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                    for (peer, addr) in found {
                        log(format!("mdns: discovered {peer} at {addr}"));
                        if !swarm.is_connected(&peer) {
                            let _ = swarm.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                        }
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Pubsub(e)) => pubsub_watch.on_event(e, &ev),
                SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => {
                    let s = state.lock().unwrap();
                    queries.on_event(&mut swarm, &s, e);
                }
                _ => {}
            }
        }
    }
}

// ------------------------------------------------------------------ inbound protocols

async fn serve_inbound(mut rx: futures::channel::mpsc::UnboundedReceiver<inbound::InboundStream>, report: Reporter) {
    while let Some((peer, proto, stream)) = rx.next().await {
        let report = report.clone();
        tokio::spawn(async move {
            let p = proto.to_string();
            let mut j = json!({"event": "stream", "protocol": p, "peer": peer.to_string(), "direction": "inbound"});
            let r = if proto == HASH {
                serve_hash(stream).await.map(|(n, hex)| {
                    j["sha256"] = hex.into();
                    n
                })
            } else if proto == PERF {
                serve_perf(stream).await
            } else {
                serve_echo(stream).await
            };
            match r {
                Ok(n) => {
                    j["bytes"] = n.into();
                    j["ok"] = true.into();
                }
                Err((n, e)) => {
                    log(format!("{p} handler error: {e}"));
                    j["bytes"] = n.into();
                    j["ok"] = false.into();
                    j["error"] = e.to_string().into();
                }
            }
            if proto != PERF {
                report(j);
            }
        });
    }
}

type Served<T> = Result<T, (u64, io::Error)>;

/// echo: copy every byte back until the remote half-closes, then close our side.
async fn serve_echo(stream: Stream) -> Served<u64> {
    let (mut r, mut w) = stream.split();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).await.map_err(|e| (total, e))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n]).await.map_err(|e| (total, e))?;
        total += n as u64;
    }
    w.close().await.map_err(|e| (total, e))?;
    Ok(total)
}

/// hash: read until EOF, answer the lowercase hex sha256, close.
async fn serve_hash(mut stream: Stream) -> Served<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| (total, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    let hex = to_hex(&h.finalize());
    stream.write_all(hex.as_bytes()).await.map_err(|e| (total, e))?;
    stream.close().await.map_err(|e| (total, e))?;
    Ok((total, hex))
}

/// /perf/1.0.0 server: u64 BE download size, drain the upload until EOF, then send that many
/// bytes and close. Returns the bytes received.
async fn serve_perf(mut stream: Stream) -> Served<u64> {
    let mut hdr = [0u8; 8];
    stream.read_exact(&mut hdr).await.map_err(|e| (0, e))?;
    let want = u64::from_be_bytes(hdr);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| (total, e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    send_zeros(&mut stream, want, |_| {}).await.map_err(|e| (total, e))?;
    stream.close().await.map_err(|e| (total, e))?;
    Ok(total)
}

pub async fn send_zeros<W: futures::AsyncWrite + Unpin>(
    w: &mut W,
    mut n: u64,
    mut progress: impl FnMut(u64),
) -> io::Result<()> {
    let zeros = vec![0u8; CHUNK];
    while n > 0 {
        let k = n.min(CHUNK as u64) as usize;
        w.write_all(&zeros[..k]).await?;
        n -= k as u64;
        progress(k as u64);
    }
    Ok(())
}

// ------------------------------------------------------------------ client operations

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    to_hex(&Sha256::digest(b))
}

/// Not cryptographic; test payloads only (xorshift64* seeded from the clock and a counter).
pub fn random_bytes(n: usize) -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let mut x = t ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ (std::process::id() as u64) << 32;
    if x == 0 {
        x = 0x2545_F491_4F6C_DD1D;
    }
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// N ping round trips (32 random bytes each) on one /ipfs/ping/1.0.0 stream; RTTs in ms.
pub async fn ping_rtts(node: &Node, peer: PeerId, n: usize) -> Result<Vec<f64>, String> {
    // libp2p-ping's handler answers only the newest inbound ping stream of a connection (a new one
    // replaces the old): so a rust remote drops our stream if our ping behaviour's first ping (sent
    // as the connection opens) reaches it after ours, which over QUIC is a race. Let that ping
    // finish first (bounded; it is only reported, never required).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let pinged = {
            let st = node.state.lock().unwrap();
            st.pings.iter().any(|(c, _)| st.conns.get(c).is_some_and(|i| i.peer == peer))
        };
        if pinged {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut s = node.open(peer, PING).await?;
    let mut rtts = Vec::with_capacity(n);
    for _ in 0..n {
        let data = random_bytes(32);
        let t0 = Instant::now();
        let round = async {
            s.write_all(&data).await?;
            s.flush().await?;
            let mut back = [0u8; 32];
            s.read_exact(&mut back).await?;
            Ok::<_, io::Error>(back)
        };
        let back = tokio::time::timeout(Duration::from_secs(10), round)
            .await
            .map_err(|_| "ping timed out after 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        rtts.push(t0.elapsed().as_secs_f64() * 1000.0);
        if back[..] != data[..] {
            return Err("ping: wrong payload echoed".into());
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), s.close()).await;
    Ok(rtts)
}

/// Send `nbytes` random bytes on a new stream of `proto` (echo or hash), half-close, read the
/// answer to EOF and verify it by sha256.
pub async fn checked_stream(node: &Node, peer: PeerId, proto: StreamProtocol, nbytes: usize) -> Result<(), String> {
    let data = random_bytes(nbytes);
    let want = sha256_hex(&data);
    let stream = node.open(peer, proto.clone()).await?;
    let (mut r, mut w) = stream.split();
    let write = async {
        w.write_all(&data).await?;
        w.close().await
    };
    let read = async {
        let mut body = Vec::with_capacity(if proto == HASH { 64 } else { nbytes });
        r.read_to_end(&mut body).await.map(|_| body)
    };
    let io = async { futures::join!(write, read) };
    let (wr, rd) = tokio::time::timeout(Duration::from_secs(60), io)
        .await
        .map_err(|_| format!("{proto}: timed out after 60 s"))?;
    wr.map_err(|e| format!("{proto} write: {e}"))?;
    let body = rd.map_err(|e| format!("{proto} read: {e}"))?;
    if proto == HASH {
        let got = String::from_utf8_lossy(&body).trim().to_lowercase();
        if got != want {
            return Err(format!("hash mismatch: sent sha256 {want}, remote said {got}"));
        }
    } else {
        let got = sha256_hex(&body);
        if body.len() != nbytes || got != want {
            return Err(format!(
                "echo mismatch: sent {nbytes} bytes (sha256 {want}), got {} bytes (sha256 {got})",
                body.len()
            ));
        }
    }
    Ok(())
}
