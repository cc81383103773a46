//! `peer bench`: the client side of benchmarks/suites/latency.py and streams.py, with the
//! options and JSON line of the go peer's `peer bench` (interop/go/bench.go), raw samples in
//! seconds. rust-libp2p's ping is a behaviour with its own schedule, so there is no --pings here.
//!
//!   peer bench --to MA [--echo-rtts N] [--streams K --stream-bytes N --conns C]
//!              [--open-close N --workers W] [--timeout-ms MS]

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::{future::join_all, AsyncReadExt, AsyncWriteExt};
use libp2p::{identity::Keypair, Multiaddr, PeerId};
use serde_json::{json, Value};

use crate::{
    node::{self, emit, Node, NodeOptions, ECHO, HASH, PERF},
    usage, Opts,
};

fn options() -> NodeOptions {
    NodeOptions {
        key: Keypair::generate_ed25519(),
        muxers: vec![node::Muxer::Yamux],
        agent: node::AGENT.to_string(),
        signed_peer_record: false,
        ping_interval: Duration::from_secs(24 * 3600),
        protocols: vec![PERF, ECHO, HASH],
        report: Arc::new(|_| {}),
        events: false,
        dht: None,
        mdns: false,
        pubsub: None,
    }
}

/// One /perf/1.0.0 stream downloading `n` bytes.
async fn download(node: &Node, peer: PeerId, n: u64) -> Result<(), String> {
    let mut s = node.open(peer, PERF).await?;
    let io = async {
        s.write_all(&n.to_be_bytes()).await?;
        s.close().await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let k = s.read(&mut buf).await?;
            if k == 0 {
                return Ok::<u64, std::io::Error>(got);
            }
            got += k as u64;
        }
    };
    let got = io.await.map_err(|e| format!("perf stream: {e}"))?;
    if got != n {
        return Err(format!("perf: expected {n} bytes, received {got}"));
    }
    Ok(())
}

/// Open /echo/1.0.0, 1 byte there and back, close.
async fn echo_once(node: &Node, peer: PeerId) -> Result<(), String> {
    let mut s = node.open(peer, ECHO).await?;
    let io = async {
        s.write_all(&[42]).await?;
        s.flush().await?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        s.close().await
    };
    io.await.map_err(|e| format!("echo stream: {e}"))
}

async fn run_inner(o: &Opts, result: &mut Vec<(String, Value)>) -> Result<(), String> {
    let to: Multiaddr = o.get("to").unwrap_or_else(|| usage("bench needs --to MA")).parse().map_err(|e| format!("--to: {e}"))?;
    let echo_rtts = o.int("echo-rtts", 0) as i64;
    let streams = o.int("streams", 0);
    let stream_bytes = o.int("stream-bytes", 1 << 20);
    let conns = o.int("conns", 1).max(1);
    let open_close = o.int("open-close", 0) as i64;
    let workers = o.int("workers", 1).max(1);
    let n_nodes = if streams > 0 { conns } else { 1 };
    let mut nodes = vec![];
    let mut peers = vec![];
    for _ in 0..n_nodes {
        let node = Node::start(options())?;
        let c = node.connect(to.clone(), Duration::from_secs(30)).await?;
        peers.push(c.peer);
        nodes.push(node);
    }
    let (node, peer) = (&nodes[0], peers[0]);
    if echo_rtts > 0 {
        let mut s = node.open(peer, ECHO).await?;
        let mut rtts = vec![];
        let mut b = [0u8; 1];
        for i in -10..echo_rtts {
            let t0 = Instant::now();
            s.write_all(&[42]).await.map_err(|e| e.to_string())?;
            s.flush().await.map_err(|e| e.to_string())?;
            s.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            if i >= 0 {
                rtts.push(t0.elapsed().as_secs_f64());
            }
        }
        let _ = s.close().await;
        result.push(("echo_rtts".into(), json!(rtts)));
    }
    if streams > 0 {
        let batch = || async {
            let t0 = Instant::now();
            let mut futs = vec![];
            for (n, p) in nodes.iter().zip(peers.iter()) {
                for _ in 0..streams {
                    futs.push(download(n, *p, stream_bytes));
                }
            }
            for r in join_all(futs).await {
                r?;
            }
            Ok::<f64, String>(t0.elapsed().as_secs_f64())
        };
        batch().await?; // warm-up
        let secs = batch().await?;
        result.push(("streams_seconds".into(), json!(secs)));
        result.push(("streams_bytes".into(), json!(n_nodes * streams * stream_bytes)));
    }
    if open_close > 0 {
        for _ in 0..10 {
            echo_once(node, peer).await?;
        }
        let next = AtomicI64::new(0);
        let t0 = Instant::now();
        let worker = || async {
            while next.fetch_add(1, Ordering::Relaxed) < open_close {
                echo_once(node, peer).await?;
            }
            Ok::<(), String>(())
        };
        for r in join_all((0..workers).map(|_| worker())).await {
            r?;
        }
        result.push(("open_close_seconds".into(), json!(t0.elapsed().as_secs_f64())));
        result.push(("open_close_count".into(), json!(open_close)));
    }
    for n in &nodes {
        n.close_all(Duration::from_secs(2)).await;
    }
    Ok(())
}

pub async fn run(o: &Opts) -> i32 {
    let limit = Duration::from_millis(o.int("timeout-ms", 600_000));
    let mut result: Vec<(String, Value)> =
        vec![("implementation".into(), json!("rust-libp2p")), ("version".into(), json!(node::AGENT))];
    let err = match tokio::time::timeout(limit, run_inner(o, &mut result)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("timed out after {} ms", limit.as_millis())),
    };
    let mut obj = serde_json::Map::new();
    for (k, v) in result {
        obj.insert(k, v);
    }
    obj.insert("errors".into(), json!(err.iter().collect::<Vec<_>>()));
    emit(&Value::Object(obj));
    if err.is_some() {
        1
    } else {
        0
    }
}
