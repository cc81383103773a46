//! rust-libp2p peer used by the aiolibp2p interop tests. Same command line and JSON as
//! interop/js/peer.mjs (see README.md). stdout carries only JSON lines (YAML for the
//! unified-testing contract); logs go to stderr (RUST_LOG=... adds rust-libp2p's own).

mod bench;
mod dht;
mod holepunch;
mod inbound;
mod interop;
mod node;
mod perf;
mod pubsub;

use std::{collections::HashMap, process::exit, sync::Arc, time::Duration};

use libp2p::{identity::Keypair, Multiaddr, PeerId, StreamProtocol};
use node::{emit, log, Muxer, Node, NodeOptions, Reporter, ECHO, HASH, PERF};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    signal::unix::{signal, SignalKind},
};

const USAGE: &str = "usage:
  peer listen [--listen MA]... [--muxer yamux|mplex] [--key-seed HEX32] [--key-type T] [--agent STR]
              [--events] [--ignore-stdin] [--signed-peer-record] [--dht server|client [--dht-no-refresh]]
              [--mdns]
              [--pubsub gossipsub|floodsub [--pubsub-sign strict|none] [--subscribe TOPIC]...]
  peer dial --to MA [--muxer yamux|mplex] [--pings N] [--echo-bytes N] [--streams K --stream-bytes N]
            [--stream-protocol echo|hash] [--hold-ms MS] [--timeout-ms MS] [--key-seed HEX32] [--key-type T]
            [--agent STR] [--signed-peer-record]
  peer perf --run-server --server-address IP:PORT [--muxer yamux|mplex]
  peer perf --server-address IP:PORT [--transport tcp|quic-v1] [--upload-bytes N] [--download-bytes N] [--muxer M]
  listen, dial and perf take --security noise|tls (for TCP and WebSocket; default noise; QUIC always uses TLS)
  peer interop        (or no arguments) transport-interop test app, configured by environment variables
  peer hole-punch     test-plans hole-punch contract (MODE=relay|listen|dial, see src/holepunch.rs)
key types: ed25519 (default), secp256k1, ecdsa, rsa (2048 bit, made with the openssl command)";

pub fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("error: {msg}");
    }
    eprintln!("{USAGE}");
    exit(2)
}

/// Parsed `--name value` / `--name=value` / `--flag` options.
pub struct Opts {
    pub values: HashMap<String, Vec<String>>,
    pub flags: Vec<String>,
}

const FLAGS: &[&str] = &[
    "events",
    "ignore-stdin",
    "no-connection-monitor",
    "perf",
    "run-server",
    "signed-peer-record",
    "dht-no-refresh",
    "mdns",
    "help",
];

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts { values: HashMap::new(), flags: vec![] };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let Some(name) = a.strip_prefix("--") else { usage(&format!("unexpected argument {a}")) };
            if let Some((k, v)) = name.split_once('=') {
                o.values.entry(k.to_string()).or_default().push(v.to_string());
            } else if FLAGS.contains(&name) {
                o.flags.push(name.to_string());
            } else {
                i += 1;
                let Some(v) = args.get(i) else { usage(&format!("--{name} needs a value")) };
                o.values.entry(name.to_string()).or_default().push(v.clone());
            }
            i += 1;
        }
        o
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).and_then(|v| v.last()).map(|s| s.as_str())
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.values.get(k).cloned().unwrap_or_default()
    }
    pub fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
    pub fn int(&self, k: &str, dflt: u64) -> u64 {
        match self.get(k) {
            None => dflt,
            Some(v) => v.parse().unwrap_or_else(|_| usage(&format!("--{k} must be a non-negative integer"))),
        }
    }
    pub fn muxer(&self) -> Muxer {
        let m = self.get("muxer").unwrap_or("yamux");
        Muxer::parse(m).unwrap_or_else(|| usage("--muxer must be yamux or mplex"))
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

pub fn key_from_seed(seed: [u8; 32]) -> Keypair {
    Keypair::ed25519_from_bytes(seed).expect("32-byte ed25519 seed")
}

fn rsa_key() -> Result<Keypair, String> {
    // libp2p-identity can load but not generate RSA keys
    // (OpenSSL 3.0's `genpkey -outform DER` writes PKCS#1, ring wants PKCS#8: convert)
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl pkcs8 -topk8 -nocrypt -outform DER",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running openssl to make an RSA key: {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl genpkey failed ({})", out.status));
    }
    let mut der = out.stdout;
    Keypair::rsa_from_pkcs8(&mut der).map_err(|e| format!("loading the RSA key: {e}"))
}

fn load_key(o: &Opts) -> Keypair {
    let ty = o.get("key-type").unwrap_or("ed25519").to_lowercase();
    if let Some(seed) = o.get("key-seed") {
        let bytes = hex_decode(seed).filter(|b| b.len() == 32);
        let Some(bytes) = bytes else { usage("--key-seed must be 64 hex characters (32 bytes)") };
        return match ty.as_str() {
            "ed25519" => key_from_seed(bytes.try_into().unwrap()),
            "secp256k1" => libp2p::identity::secp256k1::SecretKey::try_from_bytes(bytes)
                .map(|sk| Keypair::from(libp2p::identity::secp256k1::Keypair::from(sk)))
                .unwrap_or_else(|e| usage(&format!("bad secp256k1 seed: {e}"))),
            "ecdsa" => libp2p::identity::ecdsa::SecretKey::try_from_bytes(bytes)
                .map(|sk| Keypair::from(libp2p::identity::ecdsa::Keypair::from(sk)))
                .unwrap_or_else(|e| usage(&format!("bad ecdsa (P-256) seed: {e}"))),
            _ => usage("--key-seed works with --key-type ed25519, secp256k1 or ecdsa"),
        };
    }
    match ty.as_str() {
        "ed25519" => Keypair::generate_ed25519(),
        "secp256k1" => Keypair::generate_secp256k1(),
        "ecdsa" => Keypair::generate_ecdsa(),
        "rsa" => rsa_key().unwrap_or_else(|e| {
            log(e);
            exit(1)
        }),
        _ => usage(&format!("--key-type must be ed25519, secp256k1, ecdsa or rsa, not {ty}")),
    }
}

fn parse_addr(s: &str, what: &str) -> Multiaddr {
    s.parse().unwrap_or_else(|e| usage(&format!("bad {what} multiaddr {s:?}: {e}")))
}

fn parse_protocol(s: &str) -> Result<StreamProtocol, String> {
    StreamProtocol::try_from_owned(s.to_string()).map_err(|e| format!("bad protocol {s:?}: {e}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    match mode.as_str() {
        "" | "interop" => {
            if args.len() > 1 {
                usage("interop takes no options (it reads environment variables)");
            }
            exit(interop::run().await)
        }
        "hole-punch" => exit(holepunch::run().await),
        "listen" | "dial" | "perf" | "bench" => {}
        "-h" | "--help" | "help" => usage(""),
        // the source hash ci/build_rust_peer.sh built this binary from (it checks the copy it caches)
        "source-hash" => {
            println!("{}", option_env!("AIOLIBP2P_PEER_SOURCE_HASH").unwrap_or(""));
            exit(0)
        }
        _ => usage("first argument must be listen, dial, perf or interop"),
    }
    let o = Opts::parse(&args[1..]);
    if o.flag("help") {
        usage("");
    }
    match o.get("security").unwrap_or("noise") {
        "noise" => {}
        "tls" => node::USE_TLS.store(true, std::sync::atomic::Ordering::Relaxed),
        s => usage(&format!("--security must be noise or tls, not {s}")),
    }
    let code = match mode.as_str() {
        "listen" => run_listen(&o).await,
        "dial" => run_dial(&o).await,
        "bench" => bench::run(&o).await, // benchmarks/suites/latency.py and streams.py
        _ => perf::run(&o).await,
    };
    exit(code)
}

/// `--dht server|client [--dht-no-refresh]` (listen only)
fn dht_options(o: &Opts) -> Option<dht::DhtOptions> {
    let no_refresh = o.flag("dht-no-refresh");
    match o.get("dht") {
        None if no_refresh => usage("--dht-no-refresh needs --dht server|client"),
        None => None,
        Some("server") => Some(dht::DhtOptions { server: true, no_refresh }),
        Some("client") => Some(dht::DhtOptions { server: false, no_refresh }),
        Some(m) => usage(&format!("--dht must be server or client, not {m}")),
    }
}

fn node_options(o: &Opts, muxers: Vec<Muxer>, report: Reporter, events: bool) -> NodeOptions {
    NodeOptions {
        key: load_key(o),
        muxers,
        agent: o.get("agent").unwrap_or(node::AGENT).to_string(),
        signed_peer_record: o.flag("signed-peer-record"),
        // js's connection monitor pings every 10 s; rust's ping behaviour every 15 s (and at once)
        ping_interval: Duration::from_secs(if o.flag("no-connection-monitor") { 24 * 3600 } else { 15 }),
        protocols: vec![ECHO, HASH, PERF],
        report,
        events,
        dht: None,
        mdns: o.flag("mdns"),
        pubsub: None,
    }
}

/// The protocols we answer, as identify announces them (sorted, like js's getProtocols()).
fn local_protocols(node: &Node) -> Vec<String> {
    let mut ps = node.registry.list();
    ps.extend(["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0"].map(String::from));
    if node.dht.is_some_and(|d| d.server) {
        ps.push(dht::KAD.to_string());
    }
    if let Some(p) = &node.pubsub {
        ps.extend(p.protocols());
    }
    ps.sort();
    ps.dedup();
    ps
}

// -------------------------------------------------------------------- listen

async fn run_listen(o: &Opts) -> i32 {
    let muxer = o.muxer();
    let events = o.flag("events");
    let report: Reporter = Arc::new(move |v: Value| {
        if events {
            emit(&v)
        }
    });
    let mut opts = node_options(o, vec![muxer, muxer.other()], report.clone(), events);
    opts.dht = dht_options(o);
    opts.pubsub = pubsub::options(o);
    let node = match Node::start(opts) {
        Ok(n) => n,
        Err(e) => {
            log(format!("fatal: {e}"));
            return 1;
        }
    };
    let mut addrs = o.all("listen");
    if addrs.is_empty() {
        addrs.push("/ip4/127.0.0.1/tcp/0".into());
    }
    let mut listeners = vec![];
    for a in &addrs {
        match node.listen(parse_addr(a, "--listen")).await {
            Ok(id) => listeners.push(id),
            Err(e) => {
                log(format!("cannot listen on {a}: {e}"));
                return 1;
            }
        }
    }
    let ok = node
        .wait_for(Duration::from_secs(10), |s| {
            listeners.iter().all(|l| s.listen_addrs.iter().any(|(id, _)| id == l)).then_some(())
        })
        .await;
    if ok.is_none() {
        log("no listen address reported within 10 s");
        return 1;
    }
    // a 0.0.0.0 listener reports one address per interface, a moment apart
    tokio::time::sleep(Duration::from_millis(100)).await;
    let multiaddrs: Vec<String> = node
        .state
        .lock()
        .unwrap()
        .listen_addrs
        .iter()
        .map(|(_, a)| node::with_p2p(a, node.peer_id).to_string())
        .collect();
    let agent = o.get("agent").unwrap_or(node::AGENT);
    let mut ready = json!({
        "peer_id": node.peer_id.to_string(),
        "multiaddrs": multiaddrs,
        "agent": agent,
        "protocols": local_protocols(&node),
    });
    if let Some(d) = node.dht {
        ready["dht"] = d.mode().into();
    }
    // The handlers exist before the ready line: a SIGTERM right after it must end the run cleanly.
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    if let Err(e) = pubsub::subscribe_initial(&node).await {
        log(format!("cannot subscribe: {e}"));
        return 1;
    }
    if let Some(p) = &node.pubsub {
        ready["pubsub"] = p.router_name().into();
        ready["pubsub_sign"] = p.sign_name().into();
    }
    emit(&ready);
    pubsub::after_ready(&node).await;
    log(format!("listening as {} on {} ({} preferred)", node.peer_id, multiaddrs.join(" "), muxer.id()));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let watch_stdin = !o.flag("ignore-stdin");
    let (quit_tx, mut quit_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let why = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = quit_rx.recv() => break "quit command",
            line = lines.next_line(), if watch_stdin => match line {
                Ok(Some(line)) => {
                    let parts: Vec<String> = line.split_whitespace().map(String::from).collect();
                    if parts.is_empty() {
                        continue;
                    }
                    let (node, report, quit_tx) = (node.clone(), report.clone(), quit_tx.clone());
                    tokio::spawn(async move {
                        let cmd = parts[0].clone();
                        let args: Vec<String> = parts[1..].to_vec();
                        let r = tokio::time::timeout(Duration::from_secs(30), command(&node, &cmd, &args, &quit_tx)).await;
                        let mut j = json!({"event": "cmd_result", "cmd": cmd, "args": args});
                        match r {
                            Ok(Ok(Value::Object(m))) => {
                                j["ok"] = true.into();
                                for (k, v) in m {
                                    j[k] = v;
                                }
                            }
                            Ok(Ok(_)) => j["ok"] = true.into(),
                            Ok(Err(e)) => {
                                j["ok"] = false.into();
                                j["error"] = e.into();
                            }
                            Err(_) if cmd.starts_with("dht-") => {
                                j["ok"] = false.into();
                                j["error"] = format!("timeout: {cmd} gave up after 30000 ms").into();
                            }
                            Err(_) => {
                                j["ok"] = false.into();
                                j["error"] = format!("{cmd} timed out after 30000 ms").into();
                            }
                        }
                        report(j);
                    });
                }
                _ => break "stdin closed",
            },
        }
    };
    log(format!("shutting down ({why})"));
    node.close_all(Duration::from_secs(2)).await;
    0
}

fn parse_peer(s: Option<&String>) -> Result<PeerId, String> {
    let s = s.ok_or("missing PEER argument")?;
    s.parse::<PeerId>().map_err(|e| format!("bad peer id {s:?}: {e}"))
}

/// How long `dht-provide` waits after kad reported the provide done (see dht_command).
const PROVIDE_SETTLE_MS: u64 = 300;

fn hex_arg(args: &[String], i: usize, name: &str) -> Result<Vec<u8>, String> {
    let s = args.get(i).ok_or(format!("missing {name} argument"))?;
    match hex_decode(s) {
        None => Err(format!("{name} must be hex")),
        Some(b) if b.is_empty() => Err(format!("{name} is empty")),
        Some(b) => Ok(b),
    }
}

/// `connect MA`: dial, wait (bounded, 5 s) for our identify of the connection and, when we run a
/// DHT and the remote serves it, until it is in our routing table.
async fn connect(node: &Node, args: &[String]) -> Result<Value, String> {
    let s = args.first().ok_or("missing MULTIADDR argument")?;
    let addr: Multiaddr = s.parse().map_err(|e| format!("bad multiaddr {s:?}: {e}"))?;
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
        return Err("the multiaddr must end in /p2p/<peer id>".into());
    };
    let conn = node.connect(addr, Duration::from_secs(15)).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let id = conn.id;
    let ident = node
        .wait_for(Duration::from_secs(5), |s| {
            s.identified
                .get(&id)
                .map(|j| Ok(j.clone()))
                .or_else(|| s.identify_errors.get(&id).map(|e| Err(e.clone())))
                .or_else(|| s.closed.get(&id).map(|e| Err(format!("connection closed: {e}"))))
        })
        .await;
    let j = match ident {
        None => {
            log(format!("connect: no identify of {peer} within 5 s"));
            return Ok(json!({"peer": peer.to_string()}));
        }
        Some(r) => r.map_err(|e| format!("identify: {e}"))?,
    };
    let serves_kad = j["protocols"].as_array().is_some_and(|ps| ps.iter().any(|p| p == dht::KAD.as_ref()));
    if node.dht.is_some() && serves_kad {
        loop {
            let table = node.dht(dht::Req::RoutingTable).await?;
            if table["peers"].as_array().is_some_and(|ps| ps.iter().any(|p| p.as_str() == Some(&peer.to_string()))) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                log(format!("connect: {peer} serves {} but is not in the routing table after 5 s", dht::KAD));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(json!({"peer": peer.to_string()}))
}

async fn dht_command(node: &Node, cmd: &str, args: &[String]) -> Result<Value, String> {
    let req = match cmd {
        "dht-routing-table" => dht::Req::RoutingTable,
        "dht-bootstrap" => dht::Req::Bootstrap,
        "dht-find-peer" => dht::Req::FindPeer(parse_peer(args.first())?),
        "dht-closest" => dht::Req::Closest(hex_arg(args, 0, "HEXKEY")?),
        "dht-provide" => dht::Req::Provide(dht::cid_key(args.first().ok_or("missing CID argument")?)?),
        "dht-find-providers" => {
            let key = dht::cid_key(args.first().ok_or("missing CID argument")?)?;
            let n = match args.get(1) {
                None => 20,
                Some(s) => s.parse::<usize>().map_err(|_| format!("bad number {s:?}"))?,
            };
            if n == 0 {
                return Err("COUNT must be at least 1".into());
            }
            dht::Req::FindProviders(key, n)
        }
        "dht-put" => dht::Req::Put(hex_arg(args, 0, "KEYHEX")?, hex_arg(args, 1, "VALUEHEX")?),
        "dht-get" => dht::Req::Get(hex_arg(args, 0, "KEYHEX")?),
        _ => return Err("unknown command".into()),
    };
    let provide = matches!(req, dht::Req::Provide(_));
    let r = node.dht(req).await?;
    if provide {
        // kad reports a provide done once the ADD_PROVIDER requests are handed to the connections,
        // before they are written; give them a moment, so a lookup right after finds the record
        tokio::time::sleep(Duration::from_millis(PROVIDE_SETTLE_MS)).await;
    }
    Ok(r)
}

async fn command(
    node: &Node,
    cmd: &str,
    args: &[String],
    quit: &tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<Value, String> {
    let count = |i: usize, d: u64| -> Result<u64, String> {
        args.get(i).map(|s| s.parse::<u64>().map_err(|_| format!("bad number {s:?}"))).unwrap_or(Ok(d))
    };
    let connected_peers = || -> Vec<PeerId> {
        let mut ps: Vec<PeerId> = node.state.lock().unwrap().conns.values().map(|c| c.peer).collect();
        ps.sort();
        ps.dedup();
        ps
    };
    match cmd {
        "add-protocol" | "remove-protocol" => {
            let p = args.first().ok_or("missing PROTOCOL argument")?;
            let proto = parse_protocol(p)?;
            if cmd == "add-protocol" {
                node.registry.add(proto);
            } else {
                node.registry.remove(p);
            }
            // rust-libp2p's identify pushes by itself when a connection notices the change (on its
            // next poll); push explicitly as well, a moment later, so it is not left waiting
            tokio::time::sleep(Duration::from_millis(50)).await;
            node.push(connected_peers());
            Ok(json!({"protocols": local_protocols(node)}))
        }
        "push" => {
            node.push(connected_peers());
            Ok(json!({}))
        }
        "ping" => {
            let peer = parse_peer(args.first())?;
            if !node.connected(&peer) {
                return Err(format!("not connected to {peer}"));
            }
            let rtts = node::ping_rtts(node, peer, count(1, 1)? as usize).await?;
            Ok(json!({"rtts_ms": rtts}))
        }
        "echo" => {
            let peer = parse_peer(args.first())?;
            if !node.connected(&peer) {
                return Err(format!("not connected to {peer}"));
            }
            node::checked_stream(node, peer, ECHO, count(1, 1024)? as usize).await?;
            Ok(json!({}))
        }
        "identify" => Err("unsupported: rust-libp2p's identify behaviour has no API to send a new identify \
                           request on an existing connection (use peer-info)"
            .into()),
        "peer-info" => {
            let peer = parse_peer(args.first())?;
            let s = node.state.lock().unwrap();
            match s.peer_info.get(&peer) {
                None => Err(format!("no identify info for {peer}")),
                Some(info) => Ok(node::peer_store_json(Some(info))),
            }
        }
        "connections" => {
            let s = node.state.lock().unwrap();
            let mut cs: Vec<_> = s.conns.values().collect();
            cs.sort_by_key(|c| node::conn_id_str(c.id).parse::<u64>().unwrap_or(0));
            Ok(json!({"connections": cs.iter().map(|c| c.json()).collect::<Vec<_>>()}))
        }
        "quit" => {
            let _ = quit.send(());
            Ok(json!({}))
        }
        "connect" => connect(node, args).await,
        _ if cmd.starts_with("dht-") => dht_command(node, cmd, args).await,
        _ if cmd.starts_with("pubsub-") => pubsub::command(node, cmd, args).await,
        _ => Err("unknown command".into()),
    }
}

// -------------------------------------------------------------------- dial

struct DialArgs {
    to: Multiaddr,
    pings: u64,
    echo_bytes: u64,
    streams: u64,
    stream_bytes: u64,
    protocol: StreamProtocol,
    hold_ms: u64,
}

async fn run_dial(o: &Opts) -> i32 {
    let Some(to) = o.get("to") else { usage("dial needs --to MULTIADDR") };
    let muxer = o.muxer();
    let a = DialArgs {
        to: parse_addr(to, "--to"),
        pings: o.int("pings", 1),
        echo_bytes: o.int("echo-bytes", 0),
        streams: o.int("streams", 0),
        stream_bytes: o.int("stream-bytes", 1024),
        protocol: if o.get("stream-protocol").unwrap_or("echo") == "hash" { HASH } else { ECHO },
        hold_ms: o.int("hold-ms", 0),
    };
    let timeout_ms = o.int("timeout-ms", 60_000);
    let inbound = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let sink = inbound.clone();
    let report: Reporter = Arc::new(move |v: Value| sink.lock().unwrap().push(v));
    let node = match Node::start(node_options(o, vec![muxer], report, false)) {
        Ok(n) => n,
        Err(e) => {
            log(format!("fatal: {e}"));
            return 1;
        }
    };
    let mut result = json!({
        "connected": false, "remote_peer": null, "remote_addr": null, "muxer": null, "encryption": null,
        "remote_agent": null, "remote_protocol_version": null, "remote_protocols": [],
        "remote_listen_addrs": [], "observed_addr": null, "signed_peer_record": null, "peer_store": null,
        "identify_pushes": [], "inbound_streams": [], "ping_rtts_ms": [], "echo_ok": null,
        "streams_ok": null, "local_peer": node.peer_id.to_string(), "errors": [],
    });
    let mut errors: Vec<String> = vec![];
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    enum End {
        Done,
        Timeout,
        Signal(&'static str, i32),
    }
    let end = {
        let steps = dial_steps(&node, &a, &mut result, &mut errors);
        tokio::pin!(steps);
        tokio::select! {
            _ = &mut steps => End::Done,
            _ = tokio::time::sleep(Duration::from_millis(timeout_ms)) => End::Timeout,
            _ = term.recv() => End::Signal("SIGTERM", 143),
            _ = int.recv() => End::Signal("SIGINT", 130),
        }
    };
    let code = match end {
        End::Done => i32::from(!errors.is_empty()),
        End::Timeout => {
            errors.push(format!("timeout: run took more than {timeout_ms} ms"));
            3
        }
        End::Signal(name, code) => {
            errors.push(name.to_string());
            code
        }
    };
    result["inbound_streams"] = Value::Array(inbound.lock().unwrap().clone());
    result["errors"] = json!(errors);
    emit(&result);
    node.close_all(Duration::from_secs(2)).await;
    code
}

async fn dial_steps(node: &Node, a: &DialArgs, result: &mut Value, errors: &mut Vec<String>) {
    let conn = match node.connect(a.to.clone(), Duration::from_secs(15)).await {
        Ok(c) => c,
        Err(e) => {
            errors.push(format!("dial: {e}"));
            return;
        }
    };
    let peer = conn.peer;
    result["connected"] = true.into();
    result["remote_peer"] = peer.to_string().into();
    result["remote_addr"] = node::with_p2p(&conn.remote_addr, peer).to_string().into();
    result["muxer"] = conn.muxer.into();
    result["encryption"] = node::encryption(conn.muxer).into();
    log(format!("connected to {peer} via {} + {}", node::encryption(conn.muxer).unwrap_or("quic"), conn.muxer.unwrap_or("?")));

    // identify: rust-libp2p requests it on every new connection by itself
    let id = conn.id;
    let ident = node
        .wait_for(Duration::from_secs(10), |s| {
            s.identified
                .get(&id)
                .map(|j| Ok(j.clone()))
                .or_else(|| s.identify_errors.get(&id).map(|e| Err(e.clone())))
                .or_else(|| s.closed.get(&id).map(|e| Err(format!("connection closed: {e}"))))
        })
        .await
        .unwrap_or_else(|| Err("no identify answer within 10000 ms".into()));
    match ident {
        Ok(j) => {
            result["remote_agent"] = j["agent"].clone();
            result["remote_protocol_version"] = j["protocol_version"].clone();
            result["remote_protocols"] = j["protocols"].clone();
            result["remote_listen_addrs"] = j["listen_addrs"].clone();
            result["observed_addr"] = j["observed_addr"].clone();
            result["signed_peer_record"] = j["signed_peer_record"].clone();
        }
        Err(e) => errors.push(format!("identify: {e}")),
    }

    if a.pings > 0 {
        match node::ping_rtts(node, peer, a.pings as usize).await {
            Ok(r) => result["ping_rtts_ms"] = json!(r),
            Err(e) => errors.push(format!("ping: {e}")),
        }
    }
    if a.echo_bytes > 0 {
        match node::checked_stream(node, peer, ECHO, a.echo_bytes as usize).await {
            Ok(()) => result["echo_ok"] = true.into(),
            Err(e) => {
                result["echo_ok"] = false.into();
                errors.push(format!("echo: {e}"));
            }
        }
    }
    if a.streams > 0 {
        let futs =
            (0..a.streams).map(|_| node::checked_stream(node, peer, a.protocol.clone(), a.stream_bytes as usize));
        let outcomes = futures::future::join_all(futs).await;
        let failures: Vec<String> = outcomes.into_iter().filter_map(|r| r.err()).collect();
        result["streams_ok"] = failures.is_empty().into();
        for f in failures.iter().take(5) {
            errors.push(format!("streams: {f}"));
        }
        if failures.len() > 5 {
            errors.push(format!("streams: ... {} of {} streams failed", failures.len(), a.streams));
        }
    }
    if a.hold_ms > 0 {
        tokio::time::sleep(Duration::from_millis(a.hold_ms)).await;
    }
    let s = node.state.lock().unwrap();
    result["peer_store"] = node::peer_store_json(s.peer_info.get(&peer));
    result["identify_pushes"] =
        Value::Array(s.pushes.iter().filter(|(p, _)| p == &peer).map(|(_, j)| j.clone()).collect());
    if let Some(why) = s.closed.get(&id) {
        errors.push(format!("connection ended early ({why})"));
    }
}
