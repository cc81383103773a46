//! The libp2p perf contract (libp2p/test-plans perf; libp2p/specs perf/perf.md):
//!
//!   peer perf --run-server --server-address IP:PORT
//!   peer perf --server-address IP:PORT --transport tcp|quic-v1 --upload-bytes N --download-bytes M
//!
//! The server's identity is Ed25519 from the all-zero seed
//! (12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN), so the client knows whom it dials.
//! The client prints JSON lines {"type": "intermediary"|"final", "timeSeconds", "uploadBytes",
//! "downloadBytes"}: an intermediary line about every second (bytes moved during that interval),
//! then the final line (totals; time from the start of the dial to the end of the download).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{identity::Keypair, multiaddr::Protocol, Multiaddr};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    key_from_seed,
    node::{self, emit, log, Node, NodeOptions, ECHO, HASH, PERF},
    usage, Opts,
};

struct Progress {
    start: Instant,
    last: Instant,
    up: u64,
    down: u64,
}

impl Progress {
    fn add(&mut self, up: u64, down: u64) {
        self.up += up;
        self.down += down;
        let now = Instant::now();
        if now.duration_since(self.last) >= Duration::from_secs(1) {
            emit(&json!({
                "type": "intermediary",
                "timeSeconds": now.duration_since(self.last).as_secs_f64(),
                "uploadBytes": self.up,
                "downloadBytes": self.down,
            }));
            self.last = now;
            self.up = 0;
            self.down = 0;
        }
    }
}

fn socket_multiaddr(s: &str, quic: bool) -> Multiaddr {
    let sa: SocketAddr = s.parse().unwrap_or_else(|_| usage(&format!("--server-address must be IP:PORT, not {s:?}")));
    let ip = match sa.ip() {
        std::net::IpAddr::V4(a) => Protocol::Ip4(a),
        std::net::IpAddr::V6(a) => Protocol::Ip6(a),
    };
    let base = Multiaddr::empty().with(ip);
    if quic {
        base.with(Protocol::Udp(sa.port())).with(Protocol::QuicV1)
    } else {
        base.with(Protocol::Tcp(sa.port()))
    }
}

fn options(key: Keypair, muxers: Vec<node::Muxer>) -> NodeOptions {
    NodeOptions {
        key,
        muxers,
        agent: node::AGENT.to_string(),
        signed_peer_record: false,
        ping_interval: Duration::from_secs(15),
        protocols: vec![PERF, ECHO, HASH],
        report: Arc::new(|_| {}),
        events: false,
        dht: None,
        mdns: false,
        pubsub: None,
    }
}

pub async fn run(o: &Opts) -> i32 {
    if o.get("to").is_some() {
        usage("perf --to MULTIADDR (the js peer's benchmark mode) is not implemented here; use --server-address");
    }
    let Some(server) = o.get("server-address") else { usage("perf needs --server-address IP:PORT") };
    let transport = o.get("transport").unwrap_or("tcp");
    if transport != "tcp" && transport != "quic-v1" {
        log(format!("unsupported transport {transport:?} (tcp or quic-v1)"));
        return 1;
    }
    let addr = socket_multiaddr(server, transport == "quic-v1");
    let server_key = key_from_seed([0u8; 32]);
    let server_id = server_key.public().to_peer_id();
    let muxer = o.muxer();

    if o.flag("run-server") {
        let node = match Node::start(options(server_key, vec![muxer, muxer.other()])) {
            Ok(n) => n,
            Err(e) => {
                log(format!("fatal: {e}"));
                return 1;
            }
        };
        if let Err(e) = node.listen(addr.clone()).await {
            log(format!("cannot listen on {addr}: {e}"));
            return 1;
        }
        log(format!("perf server {server_id} on {addr}"));
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        log("perf server stopping");
        return 0;
    }

    let upload = o.int("upload-bytes", 0);
    let download = o.int("download-bytes", 0);
    let limit = Duration::from_secs(o.int("timeout-ms", 600_000) / 1000);
    match tokio::time::timeout(limit, client(addr.with(Protocol::P2p(server_id)), muxer, upload, download)).await {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            log(format!("perf failed: {e}"));
            1
        }
        Err(_) => {
            log(format!("perf timed out after {} s", limit.as_secs()));
            3
        }
    }
}

async fn client(target: Multiaddr, muxer: node::Muxer, upload: u64, download: u64) -> Result<(), String> {
    let node = Node::start(options(Keypair::generate_ed25519(), vec![muxer]))?;
    let start = Instant::now();
    let conn = node.connect(target, Duration::from_secs(30)).await?;
    let mut stream = node.open(conn.peer, PERF).await?;
    let mut p = Progress { start, last: start, up: 0, down: 0 };
    let io = async {
        stream.write_all(&download.to_be_bytes()).await?;
        node::send_zeros(&mut stream, upload, |n| p.add(n, 0)).await?;
        stream.close().await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n as u64;
            p.add(0, n as u64);
        }
        Ok::<u64, std::io::Error>(got)
    };
    let got = io.await.map_err(|e| format!("perf stream: {e}"))?;
    if got != download {
        return Err(format!("expected {download} bytes, received {got}"));
    }
    emit(&json!({
        "type": "final",
        "timeSeconds": p.start.elapsed().as_secs_f64(),
        "uploadBytes": upload,
        "downloadBytes": download,
    }));
    node.close_all(Duration::from_secs(2)).await;
    Ok(())
}
