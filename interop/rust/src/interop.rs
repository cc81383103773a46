//! The transport-interop test application contract.
//!
//! * libp2p/test-plans `transport-interop` (lower-case env): `transport`, `muxer`, `security`,
//!   `is_dialer`, `ip` (default 0.0.0.0), `redis_addr` (default redis:6379), `test_timeout_seconds`
//!   (default 180). Redis list `listenerAddr`: the listener RPUSHes its full multiaddr, the dialer
//!   BLPOPs it. The dialer prints one JSON line
//!   `{"handshakePlusOneRTTMillis": f, "pingRTTMilllis": f}` (sic, three l's).
//! * libp2p/unified-testing `transport` (upper-case env): `IS_DIALER`, `REDIS_ADDR`, `TEST_KEY`,
//!   `TRANSPORT`, `SECURE_CHANNEL`, `MUXER`, `LISTENER_IP`, `TEST_TIMEOUT_SECS`, `DEBUG`. Redis list
//!   `<TEST_KEY>_listener_multiaddr` (RPUSH / BLPOP; its redis-proxy maps the legacy `listenerAddr`
//!   list onto it). The dialer prints YAML:
//!   `latency:` / `  handshake_plus_one_rtt: 5.011` / `  ping_rtt: 0.599` / `  unit: ms` (one per line).
//!
//! Measured as rust-libp2p's own test app does: from just before the dial until rust-libp2p's ping
//! behaviour reports its first successful ping on the new connection (it pings right away).

use std::{
    net::Ipv4Addr,
    sync::Arc,
    time::{Duration, Instant},
};

use libp2p::{identity::Keypair, multiaddr::Protocol, Multiaddr};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::node::{self, log, Muxer, Node, NodeOptions, ECHO, HASH, PERF};

struct Config {
    modern: bool,
    is_dialer: bool,
    transport: String,
    security: String,
    muxer: String,
    ip: String,
    redis_addr: String,
    timeout: Duration,
    key: String,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn config() -> Result<Config, String> {
    let truthy = |v: Option<String>| v.map(|s| s.eq_ignore_ascii_case("true") || s == "1").unwrap_or(false);
    if env("IS_DIALER").is_some() {
        let test_key = env("TEST_KEY").ok_or("TEST_KEY is not set")?;
        Ok(Config {
            modern: true,
            is_dialer: truthy(env("IS_DIALER")),
            transport: env("TRANSPORT").unwrap_or_default(),
            security: env("SECURE_CHANNEL").unwrap_or_default(),
            muxer: env("MUXER").unwrap_or_default(),
            ip: env("LISTENER_IP").unwrap_or_else(|| "0.0.0.0".into()),
            redis_addr: env("REDIS_ADDR").unwrap_or_else(|| "transport-redis:6379".into()),
            timeout: Duration::from_secs(env("TEST_TIMEOUT_SECS").and_then(|s| s.parse().ok()).unwrap_or(180)),
            key: format!("{test_key}_listener_multiaddr"),
        })
    } else if env("is_dialer").is_some() {
        Ok(Config {
            modern: false,
            is_dialer: truthy(env("is_dialer")),
            transport: env("transport").unwrap_or_default(),
            security: env("security").unwrap_or_default(),
            muxer: env("muxer").unwrap_or_default(),
            ip: env("ip").unwrap_or_else(|| "0.0.0.0".into()),
            redis_addr: env("redis_addr").or_else(|| env("REDIS_ADDR")).unwrap_or_else(|| "redis:6379".into()),
            timeout: Duration::from_secs(env("test_timeout_seconds").and_then(|s| s.parse().ok()).unwrap_or(180)),
            key: "listenerAddr".into(),
        })
    } else {
        Err("neither IS_DIALER (unified-testing) nor is_dialer (test-plans transport-interop) is set".into())
    }
}

pub async fn run() -> i32 {
    let mut cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            log(format!("interop: {e}"));
            return 2;
        }
    };
    let quic = cfg.transport == "quic-v1";
    if cfg.transport != "tcp" && cfg.transport != "ws" && !quic {
        log(format!("interop: unsupported transport {:?} (tcp, ws or quic-v1)", cfg.transport));
        return 1;
    }
    if quic {
        // QUIC secures and multiplexes itself
        cfg.security = "noise".into();
        cfg.muxer = "yamux".into();
    }
    if cfg.security != "noise" && cfg.security != "tls" {
        log(format!("interop: unsupported security {:?} (noise or tls)", cfg.security));
        return 1;
    }
    node::USE_TLS.store(cfg.security == "tls", std::sync::atomic::Ordering::Relaxed);
    let Some(muxer) = Muxer::parse(&cfg.muxer) else {
        log(format!("interop: unsupported muxer {:?} (yamux or mplex)", cfg.muxer));
        return 1;
    };
    let node = match Node::start(NodeOptions {
        key: Keypair::generate_ed25519(),
        muxers: vec![muxer],
        agent: node::AGENT.to_string(),
        signed_peer_record: false,
        ping_interval: Duration::from_secs(15),
        protocols: vec![ECHO, HASH, PERF],
        report: Arc::new(|_| {}),
        events: false,
        dht: None,
        mdns: false,
        pubsub: None,
    }) {
        Ok(n) => n,
        Err(e) => {
            log(format!("interop: {e}"));
            return 1;
        }
    };
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let work = async {
        if cfg.is_dialer {
            dialer(&cfg, &node).await
        } else {
            listener(&cfg, &node).await
        }
    };
    tokio::select! {
        r = tokio::time::timeout(cfg.timeout, work) => match r {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                log(format!("interop: {e}"));
                1
            }
            Err(_) => {
                if cfg.is_dialer {
                    log(format!("interop: test timed out after {} s", cfg.timeout.as_secs()));
                    1
                } else {
                    log("interop: listener done (test timeout)");
                    0
                }
            }
        },
        _ = term.recv() => 0,
        _ = int.recv() => 0,
    }
}

pub async fn redis_conn(addr: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| format!("redis {addr}: {e}"))?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    // redis may still be starting: retry for a while
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get_multiplexed_async_connection_with_config(&cfg).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() < deadline => {
                log(format!("redis {addr} not ready ({e}); retrying"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(format!("redis {addr}: {e}")),
        }
    }
}

async fn listener(cfg: &Config, node: &Node) -> Result<(), String> {
    let ip: std::net::IpAddr = cfg.ip.parse().map_err(|_| format!("bad listen ip {:?}", cfg.ip))?;
    let listen = if cfg.transport == "quic-v1" {
        Multiaddr::from(ip).with(Protocol::Udp(0)).with(Protocol::QuicV1)
    } else if cfg.transport == "ws" {
        Multiaddr::from(ip).with(Protocol::Tcp(0)).with(Protocol::Ws("/".into()))
    } else {
        Multiaddr::from(ip).with(Protocol::Tcp(0))
    };
    let lid = node.listen(listen.clone()).await?;
    node.wait_for(Duration::from_secs(10), |s| s.listen_addrs.iter().any(|(l, _)| *l == lid).then_some(()))
        .await
        .ok_or("no listen address within 10 s")?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addrs: Vec<Multiaddr> = node.state.lock().unwrap().listen_addrs.iter().map(|(_, a)| a.clone()).collect();
    // listening on 0.0.0.0: publish a non-loopback interface address
    let routable = |a: &Multiaddr| match a.iter().next() {
        Some(Protocol::Ip4(x)) => !x.is_loopback() && x != Ipv4Addr::UNSPECIFIED,
        Some(Protocol::Ip6(x)) => !x.is_loopback() && !x.is_unspecified(),
        _ => false,
    };
    let chosen = if ip.is_unspecified() { addrs.iter().find(|a| routable(a)).or(addrs.first()) } else { addrs.first() };
    let full = node::with_p2p(chosen.ok_or("no listen address")?, node.peer_id).to_string();
    let mut con = redis_conn(&cfg.redis_addr).await?;
    redis::cmd("RPUSH")
        .arg(&cfg.key)
        .arg(&full)
        .query_async::<i64>(&mut con)
        .await
        .map_err(|e| format!("redis RPUSH {}: {e}", cfg.key))?;
    log(format!("listener {full} published as {}", cfg.key));
    // serve until the harness stops us (or the test timeout runs out)
    futures::future::pending::<()>().await;
    Ok(())
}

async fn dialer(cfg: &Config, node: &Node) -> Result<(), String> {
    let mut con = redis_conn(&cfg.redis_addr).await?;
    let addr = loop {
        let r = redis::cmd("BLPOP").arg(&cfg.key).arg(1).query_async::<Option<(String, String)>>(&mut con).await;
        match r {
            Ok(Some((_, v))) => break v,
            Ok(None) => continue,
            // some listeners SET the key instead of pushing to a list
            Err(e) if e.to_string().contains("WRONGTYPE") => {
                let v: Option<String> = redis::cmd("GET")
                    .arg(&cfg.key)
                    .query_async(&mut con)
                    .await
                    .map_err(|e| format!("redis GET {}: {e}", cfg.key))?;
                if let Some(v) = v {
                    break v;
                }
            }
            Err(e) => return Err(format!("redis BLPOP {}: {e}", cfg.key)),
        }
    };
    log(format!("dialing {addr}"));
    let target: Multiaddr = addr.trim().parse().map_err(|e| format!("bad listener multiaddr {addr:?}: {e}"))?;
    let start = Instant::now();
    let conn = node.connect(target, cfg.timeout).await.map_err(|e| format!("dial: {e}"))?;
    let id = conn.id;
    let rtt = node
        .wait_for(cfg.timeout, |s| {
            s.pings
                .iter()
                .find(|(c, _)| *c == id)
                .map(|(_, r)| r.clone())
                .or_else(|| s.closed.get(&id).map(|e| Err(format!("connection closed before the first ping: {e}"))))
        })
        .await
        .ok_or("no ping result")?
        .map_err(|e| format!("ping: {e}"))?;
    let handshake_ms = start.elapsed().as_secs_f64() * 1000.0;
    let ping_ms = rtt.as_secs_f64() * 1000.0;
    if cfg.modern {
        println!("latency:\n  handshake_plus_one_rtt: {handshake_ms:.3}\n  ping_rtt: {ping_ms:.3}\n  unit: ms");
    } else {
        println!("{}", json!({"handshakePlusOneRTTMillis": handshake_ms, "pingRTTMilllis": ping_ms}));
    }
    node.close_all(Duration::from_secs(1)).await;
    Ok(())
}
