//! `peer hole-punch`: libp2p/test-plans' hole-punch-interop contract, configured by environment
//! variables: MODE (relay | listen | dial), TRANSPORT (tcp), REDIS_ADDR (default redis:6379),
//! RELAY_LISTEN_IP (relay, default 0.0.0.0), RELAY_UNLIMITED (relay: "true" lifts the circuit limits).
//!
//! The relay (hop service, identify, ping, AutoNAT v1 and v2 servers) pushes its address twice to
//! the redis list RELAY_TCP_ADDRESS (one pop per client). A client pops it and dials the relay from
//! its listen port; identify there gives it its NAT mapping (an external address candidate for
//! DCUtR). The listener reserves a slot (listen on `<relay>/p2p-circuit`), pushes its peer ID to
//! LISTEN_CLIENT_PEER_ID and serves until killed; the dialer pops the ID, dials
//! `<relay>/p2p-circuit/p2p/<id>`, waits for DCUtR's direct connection and prints, after a ping over
//! it, `{"rtt_to_holepunched_peer_millis": N, "relayed_to_direct_millis": M, "direct_addr": "..."}`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    autonat, dcutr, identify,
    identity::Keypair,
    multiaddr::Protocol,
    noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, Swarm,
};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::interop::redis_conn;
use crate::node::{emit, log};

const RELAY_ADDR_KEY: &str = "RELAY_TCP_ADDRESS";
const LISTENER_ID_KEY: &str = "LISTEN_CLIENT_PEER_ID";
const TIME_LIMIT: Duration = Duration::from_secs(90);
const AGENT: &str = "aiolibp2p-rust-peer/hole-punch";

#[derive(NetworkBehaviour)]
struct RelayNode {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    autonat: autonat::v1::Behaviour,
    autonat_v2: autonat::v2::server::Behaviour,
}

#[derive(NetworkBehaviour)]
struct ClientNode {
    relay_client: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    dcutr: dcutr::Behaviour,
}

fn identify_config(key: &Keypair) -> identify::Config {
    identify::Config::new("/ipfs/id/1.0.0".into(), key.public()).with_agent_version(AGENT.into())
}

fn env_or(name: &str, dflt: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| dflt.into())
}

pub async fn run() -> i32 {
    if env_or("TRANSPORT", "tcp") != "tcp" {
        log("hole-punch: TRANSPORT must be tcp");
        return 2;
    }
    let mode = env_or("MODE", "");
    let redis_addr = env_or("REDIS_ADDR", "redis:6379");
    let result = match mode.as_str() {
        "relay" => relay_role(&redis_addr).await,
        "listen" | "dial" => match tokio::time::timeout(TIME_LIMIT, client_role(&redis_addr, mode == "dial")).await {
            Ok(r) => r,
            Err(_) => Err(format!("{mode}: no result within {TIME_LIMIT:?}")),
        },
        _ => {
            log(format!("hole-punch: MODE must be relay, listen or dial, not {mode:?}"));
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            log(format!("hole-punch {mode}: {e}"));
            1
        }
    }
}

async fn redis_cmd<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    cmd: &mut redis::Cmd,
) -> Result<T, String> {
    cmd.query_async::<T>(con).await.map_err(|e| format!("redis: {e}"))
}

/// BLPOP in short rounds (the connection has a response timeout), bounded by TIME_LIMIT.
async fn pop(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Result<String, String> {
    let deadline = Instant::now() + TIME_LIMIT;
    while Instant::now() < deadline {
        let r: Option<(String, String)> = redis_cmd(con, redis::cmd("BLPOP").arg(key).arg(1)).await?;
        if let Some((_, v)) = r {
            return Ok(v);
        }
    }
    Err(format!("nothing in redis list {key}"))
}

async fn relay_role(redis_addr: &str) -> Result<(), String> {
    let ip = env_or("RELAY_LISTEN_IP", "0.0.0.0");
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_behaviour(|key| RelayNode {
            relay: relay::Behaviour::new(key.public().to_peer_id(), relay_config()),
            identify: identify::Behaviour::new(identify_config(key)),
            ping: ping::Behaviour::new(ping::Config::new()),
            autonat: autonat::v1::Behaviour::new(
                key.public().to_peer_id(),
                autonat::v1::Config { boot_delay: Duration::from_secs(3600), ..Default::default() },
            ),
            autonat_v2: autonat::v2::server::Behaviour::default(),
        })
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    let listen: Multiaddr = format!("/ip4/{ip}/tcp/0").parse().map_err(|e| format!("{e}"))?;
    swarm.listen_on(listen).map_err(|e| e.to_string())?;
    let mut con = redis_conn(redis_addr).await?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut published = false;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            ev = swarm.select_next_some() => match ev {
                // the address on RELAY_LISTEN_IP, or (on 0.0.0.0) the first non-loopback one
                SwarmEvent::NewListenAddr { address, .. }
                    if !published && (ip != "0.0.0.0" || !is_loopback(&address)) =>
                {
                    // the reservation's addresses are the relay's external ones
                    swarm.add_external_address(address.clone());
                    let full = address.with(Protocol::P2p(*swarm.local_peer_id())).to_string();
                    let _: i64 = redis_cmd(&mut con, redis::cmd("RPUSH").arg(RELAY_ADDR_KEY).arg(&full).arg(&full)).await?;
                    emit(&json!({"peer_id": swarm.local_peer_id().to_string(), "multiaddrs": [full]}));
                    published = true;
                }
                SwarmEvent::Behaviour(RelayNodeEvent::Relay(e)) => log(format!("relay: {e:?}")),
                _ => {}
            }
        }
    }
}

/// rust's defaults (2 min, 128 KiB per circuit), or with RELAY_UNLIMITED=true (benchmarks) a day and
/// no byte limit (rust always sends a limit; 0 bytes means none to its copy loop).
fn relay_config() -> relay::Config {
    let mut config = relay::Config::default();
    if std::env::var("RELAY_UNLIMITED").as_deref() == Ok("true") {
        config.max_circuit_duration = Duration::from_secs(24 * 3600);
        config.max_circuit_bytes = 0;
    }
    config
}

fn is_loopback(a: &Multiaddr) -> bool {
    matches!(a.iter().next(), Some(Protocol::Ip4(ip)) if ip.is_loopback())
}

fn is_relayed(a: &Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}

fn client_swarm() -> Result<Swarm<ClientNode>, String> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_behaviour(|key, relay_client| ClientNode {
            relay_client,
            identify: identify::Behaviour::new(identify_config(key)),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200))),
            dcutr: dcutr::Behaviour::new(key.public().to_peer_id()),
        })
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build())
}

async fn client_role(redis_addr: &str, dialer: bool) -> Result<(), String> {
    let mut con = redis_conn(redis_addr).await?;
    let relay_addr: Multiaddr =
        pop(&mut con, RELAY_ADDR_KEY).await?.parse().map_err(|e| format!("relay address: {e}"))?;
    let Some(Protocol::P2p(_)) = relay_addr.iter().last() else {
        return Err(format!("relay address {relay_addr} lacks /p2p/"));
    };
    let mut swarm = client_swarm()?;
    swarm.listen_on("/ip4/0.0.0.0/tcp/0".parse().unwrap()).map_err(|e| e.to_string())?;
    // wait for the listener to be up so the relay dial leaves from the listen port
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            log(format!("listening on {address}"));
            if !is_loopback(&address) {
                break;
            }
        }
    }
    swarm.dial(relay_addr.clone()).map_err(|e| e.to_string())?;
    // identify with the relay: our NAT mapping, which DCUtR offers the other side. It sends the
    // external address *candidates* it saw, and the swarm passes no candidate on once that address
    // is confirmed: so confirm it (for identify to announce) only after the candidate went round.
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewExternalAddrCandidate { address } if !is_relayed(&address) => {
                log(format!("the relay sees us at {address}"));
                swarm.add_external_address(address);
                break;
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(format!("dialling the relay: {error}")),
            _ => {}
        }
    }
    if dialer {
        let target: PeerId = pop(&mut con, LISTENER_ID_KEY).await?.parse().map_err(|e| format!("listener id: {e}"))?;
        dial_through(&mut swarm, relay_addr, target).await
    } else {
        listen_through(&mut swarm, relay_addr, con).await
    }
}

async fn listen_through(
    swarm: &mut Swarm<ClientNode>,
    relay_addr: Multiaddr,
    mut con: redis::aio::MultiplexedConnection,
) -> Result<(), String> {
    swarm.listen_on(relay_addr.clone().with(Protocol::P2pCircuit)).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let me = *swarm.local_peer_id();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::Behaviour(ClientNodeEvent::RelayClient(
                    relay::client::Event::ReservationReqAccepted { renewal: false, .. },
                )) => {
                    let _: i64 = redis_cmd(&mut con, redis::cmd("RPUSH").arg(LISTENER_ID_KEY).arg(me.to_string())).await?;
                    let relayed = relay_addr.clone().with(Protocol::P2pCircuit).with(Protocol::P2p(me));
                    emit(&json!({"peer_id": me.to_string(), "relayed_addrs": [relayed.to_string()]}));
                }
                SwarmEvent::Behaviour(ClientNodeEvent::Dcutr(e)) => log(format!("dcutr: {e:?}")),
                SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                    log(format!("listener on {addresses:?} closed: {reason:?}"));
                }
                _ => {}
            }
        }
    }
}

async fn dial_through(swarm: &mut Swarm<ClientNode>, relay_addr: Multiaddr, target: PeerId) -> Result<(), String> {
    let circuit = relay_addr.with(Protocol::P2pCircuit).with(Protocol::P2p(target));
    swarm.dial(circuit).map_err(|e| e.to_string())?;
    let mut relayed_at: Option<Instant> = None;
    let mut direct: Option<(libp2p::swarm::ConnectionId, Multiaddr, f64)> = None;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } if peer_id == target => {
                let addr = endpoint.get_remote_address().clone();
                if is_relayed(&addr) {
                    relayed_at.get_or_insert_with(Instant::now);
                } else if direct.is_none() {
                    let ms = relayed_at.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
                    log(format!("direct connection to {addr}"));
                    direct = Some((connection_id, addr, ms));
                }
            }
            SwarmEvent::Behaviour(ClientNodeEvent::Dcutr(e)) => log(format!("dcutr: {e:?}")),
            // ping runs on every connection: the first answer on the direct one is our RTT
            SwarmEvent::Behaviour(ClientNodeEvent::Ping(ping::Event { peer, connection, result: Ok(rtt) }))
                if peer == target && direct.as_ref().is_some_and(|d| d.0 == connection) =>
            {
                let (_, addr, upgrade_ms) = direct.take().unwrap();
                emit(&json!({
                    "rtt_to_holepunched_peer_millis": rtt.as_secs_f64() * 1000.0,
                    "relayed_to_direct_millis": upgrade_ms,
                    "direct_addr": addr.to_string(),
                }));
                return Ok(());
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(p), error, .. }
                if p == target && relayed_at.is_none() =>
            {
                return Err(format!("dialling through the relay: {error}"));
            }
            _ => {}
        }
    }
}
