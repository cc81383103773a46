//! Pubsub role (`listen --pubsub gossipsub|floodsub [--pubsub-sign strict|none] [--subscribe T]...`):
//! rust-libp2p's gossipsub or floodsub behaviour, the `pubsub-*` stdin commands and the
//! `pubsub-message` / `pubsub-peers` event lines (see README.md, "pubsub").
//!
//! Message ids, the same in every interop peer program and in aiolibp2p's tests:
//! StrictSign: `from` (the author's peer id bytes) followed by `seqno` (8 bytes, big-endian), as
//! go and js do by default; StrictNoSign: sha256(data).

use std::collections::{BTreeSet, HashMap, HashSet};

use libp2p::{
    floodsub,
    gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, TopicHash, ValidationMode},
    identity::Keypair,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    PeerId, Swarm,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::node::{to_hex, Behaviour};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    Gossipsub,
    Floodsub,
}

#[derive(Clone, Debug)]
pub struct PubsubOptions {
    pub router: Router,
    /// StrictSign (true) or StrictNoSign (false)
    pub sign: bool,
    pub subscribe: Vec<String>,
}

impl PubsubOptions {
    pub fn router_name(&self) -> &'static str {
        match self.router {
            Router::Gossipsub => "gossipsub",
            Router::Floodsub => "floodsub",
        }
    }
    pub fn sign_name(&self) -> &'static str {
        if self.sign {
            "strict"
        } else {
            "none"
        }
    }
    /// The protocols the router serves, as identify announces them.
    pub fn protocols(&self) -> Vec<String> {
        match self.router {
            // libp2p-gossipsub 0.50 also serves the v1.3 draft id
            Router::Gossipsub => {
                ["/meshsub/1.3.0", "/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"].map(String::from).to_vec()
            }
            Router::Floodsub => vec!["/floodsub/1.0.0".to_string()],
        }
    }
}

/// At most one of the two routers is enabled.
#[derive(NetworkBehaviour)]
pub struct Pubsub {
    pub gossipsub: Toggle<gossipsub::Behaviour>,
    pub floodsub: Toggle<floodsub::Behaviour>,
}

/// from + seqno (8 bytes, big-endian), the go/js default for signed messages
fn from_seqno_id(m: &gossipsub::Message) -> MessageId {
    let mut id = m.source.map(|p| p.to_bytes()).unwrap_or_default();
    if let Some(s) = m.sequence_number {
        id.extend_from_slice(&s.to_be_bytes());
    }
    MessageId::new(&id)
}

fn content_id(m: &gossipsub::Message) -> MessageId {
    MessageId::new(&Sha256::digest(&m.data))
}

impl Pubsub {
    pub fn new(key: &Keypair, o: Option<&PubsubOptions>) -> Result<Pubsub, String> {
        let mut p = Pubsub { gossipsub: Toggle::from(None), floodsub: Toggle::from(None) };
        let Some(o) = o else { return Ok(p) };
        match o.router {
            Router::Gossipsub => {
                let mut b = gossipsub::ConfigBuilder::default();
                if o.sign {
                    b.validation_mode(ValidationMode::Strict).message_id_fn(from_seqno_id);
                } else {
                    b.validation_mode(ValidationMode::Anonymous).message_id_fn(content_id);
                }
                let cfg = b.build().map_err(|e| format!("gossipsub config: {e}"))?;
                let auth = if o.sign { MessageAuthenticity::Signed(key.clone()) } else { MessageAuthenticity::Anonymous };
                let g = gossipsub::Behaviour::new(auth, cfg).map_err(|e| format!("gossipsub: {e}"))?;
                p.gossipsub = Toggle::from(Some(g));
            }
            Router::Floodsub => {
                if o.sign {
                    return Err("rust-libp2p's floodsub cannot sign messages: use --pubsub-sign none".into());
                }
                p.floodsub = Toggle::from(Some(floodsub::Behaviour::new(key.public().to_peer_id())));
            }
        }
        Ok(p)
    }
}

pub enum Req {
    Subscribe(String),
    Unsubscribe(String),
    Publish(String, Vec<u8>),
    Peers(String),
    /// the ready line is out: `pubsub-peers` lines may follow
    Announce,
}

pub type Reply = oneshot::Sender<Result<Value, String>>;

pub fn b64(data: &[u8]) -> String {
    // multibase's Base64Pad is standard base64 with padding behind the 'M' prefix
    let s = multibase::encode(multibase::Base::Base64Pad, data);
    s[1..].to_string()
}

pub fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(vec![]);
    }
    multibase::Base::Base64Pad.decode(s).map_err(|e| format!("bad base64 {s:?}: {e}"))
}

/// What the pubsub role remembers between swarm events: subscribed topics, the last reported
/// mesh/subscribers per topic, floodsub's subscribers (its behaviour does not expose them).
#[derive(Default)]
pub struct Watch {
    announce: bool,
    topics: BTreeSet<String>,
    reported: HashMap<String, (Vec<String>, Vec<String>)>,
    flood_subscribers: HashMap<String, HashSet<PeerId>>,
    flood_view: HashSet<PeerId>,
}

fn peers_of(swarm: &Swarm<Behaviour>, w: &Watch, topic: &str) -> (Vec<String>, Vec<String>) {
    let p = &swarm.behaviour().pubsub;
    let (mut mesh, mut subs): (Vec<String>, Vec<String>) = (vec![], vec![]);
    if let Some(g) = p.gossipsub.as_ref() {
        let h = TopicHash::from_raw(topic);
        mesh = g.mesh_peers(&h).map(|p| p.to_string()).collect();
        subs = g.all_peers().filter(|(_, ts)| ts.contains(&&h)).map(|(p, _)| p.to_string()).collect();
    } else if p.floodsub.is_enabled() {
        subs = w.flood_subscribers.get(topic).map(|s| s.iter().map(|p| p.to_string()).collect()).unwrap_or_default();
        // floodsub has no mesh: every subscriber gets every message
        mesh = subs.clone();
    }
    mesh.sort();
    subs.sort();
    (mesh, subs)
}

fn peers_json(topic: &str, (mesh, subs): &(Vec<String>, Vec<String>)) -> Value {
    json!({"topic": topic, "mesh": mesh, "subscribers": subs})
}

impl Watch {
    pub fn enabled(swarm: &Swarm<Behaviour>) -> bool {
        let p = &swarm.behaviour().pubsub;
        p.gossipsub.is_enabled() || p.floodsub.is_enabled()
    }

    /// Floodsub talks only to the peers in its "partial view": every connected peer is in it.
    /// Then a `pubsub-peers` line per subscribed topic whose mesh or subscribers changed.
    pub fn tick(&mut self, swarm: &mut Swarm<Behaviour>, ev: &dyn Fn(Value)) {
        if swarm.behaviour().pubsub.floodsub.is_enabled() {
            let connected: HashSet<PeerId> = swarm.connected_peers().cloned().collect();
            let f = swarm.behaviour_mut().pubsub.floodsub.as_mut().unwrap();
            for p in connected.difference(&self.flood_view) {
                f.add_node_to_partial_view(*p);
            }
            for p in self.flood_view.difference(&connected) {
                f.remove_node_from_partial_view(p);
            }
            for subs in self.flood_subscribers.values_mut() {
                subs.retain(|p| connected.contains(p));
            }
            self.flood_view = connected;
        }
        if !self.announce {
            return; // the ready line comes first
        }
        let topics: Vec<String> = self.topics.iter().cloned().collect();
        for t in topics {
            let now = peers_of(swarm, self, &t);
            if self.reported.get(&t) != Some(&now) {
                ev(crate::node::tagged("pubsub-peers", peers_json(&t, &now)));
                self.reported.insert(t, now);
            }
        }
    }

    pub fn handle(&mut self, swarm: &mut Swarm<Behaviour>, req: Req, reply: Reply) {
        let r = self.run(swarm, req);
        let _ = reply.send(r);
    }

    fn run(&mut self, swarm: &mut Swarm<Behaviour>, req: Req) -> Result<Value, String> {
        let p = &mut swarm.behaviour_mut().pubsub;
        if !p.gossipsub.is_enabled() && !p.floodsub.is_enabled() {
            return Err("no pubsub: start with --pubsub gossipsub|floodsub".into());
        }
        match req {
            Req::Subscribe(t) => {
                if let Some(g) = p.gossipsub.as_mut() {
                    g.subscribe(&IdentTopic::new(t.clone())).map_err(|e| format!("subscribe: {e:?}"))?;
                } else if let Some(f) = p.floodsub.as_mut() {
                    f.subscribe(floodsub::Topic::new(t.clone()));
                }
                self.topics.insert(t.clone());
                Ok(json!({"topic": t}))
            }
            Req::Unsubscribe(t) => {
                if !self.topics.contains(&t) {
                    return Err(format!("not subscribed to {t}"));
                }
                if let Some(g) = p.gossipsub.as_mut() {
                    g.unsubscribe(&IdentTopic::new(t.clone()));
                } else if let Some(f) = p.floodsub.as_mut() {
                    f.unsubscribe(floodsub::Topic::new(t.clone()));
                }
                self.topics.remove(&t);
                self.reported.remove(&t);
                Ok(json!({"topic": t}))
            }
            Req::Publish(t, data) => {
                if let Some(g) = p.gossipsub.as_mut() {
                    let id = g.publish(IdentTopic::new(t.clone()), data).map_err(|e| format!("publish: {e:?}"))?;
                    Ok(json!({"topic": t, "message_id": to_hex(&id.0)}))
                } else {
                    let f = p.floodsub.as_mut().unwrap();
                    // publish_any: also to peers whose subscription we have not seen (yet)
                    f.publish_any(floodsub::Topic::new(t.clone()), data);
                    Ok(json!({"topic": t}))
                }
            }
            Req::Peers(t) => Ok(peers_json(&t, &peers_of(swarm, self, &t))),
            Req::Announce => {
                self.announce = true;
                Ok(json!({}))
            }
        }
    }

    pub fn on_event(&mut self, e: PubsubEvent, ev: &dyn Fn(Value)) {
        match e {
            PubsubEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                ev(json!({
                    "event": "pubsub-message",
                    "topic": message.topic.as_str(),
                    "from": message.source.map(|p| p.to_string()),
                    "seqno": message.sequence_number.map(|s| to_hex(&s.to_be_bytes())),
                    "data_base64": b64(&message.data),
                    "message_id": to_hex(&message_id.0),
                    "received_from": propagation_source.to_string(),
                }));
            }
            PubsubEvent::Floodsub(floodsub::Event::Message(m)) => {
                for t in &m.topics {
                    if !self.topics.contains(t.id()) {
                        continue;
                    }
                    ev(json!({
                        "event": "pubsub-message",
                        "topic": t.id(),
                        "from": m.source.to_string(),
                        "seqno": to_hex(&m.sequence_number),
                        "data_base64": b64(&m.data),
                        "message_id": to_hex(&[m.source.to_bytes(), m.sequence_number.clone()].concat()),
                        "received_from": Value::Null,
                    }));
                }
            }
            PubsubEvent::Floodsub(floodsub::Event::Subscribed { peer_id, topic }) => {
                self.flood_subscribers.entry(topic.id().to_string()).or_default().insert(peer_id);
            }
            PubsubEvent::Floodsub(floodsub::Event::Unsubscribed { peer_id, topic }) => {
                if let Some(s) = self.flood_subscribers.get_mut(topic.id()) {
                    s.remove(&peer_id);
                }
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ command line and stdin

/// `--pubsub gossipsub|floodsub [--pubsub-sign strict|none] [--subscribe TOPIC]...` (listen only)
pub fn options(o: &crate::Opts) -> Option<PubsubOptions> {
    let subscribe = o.all("subscribe");
    let router = match o.get("pubsub") {
        None => {
            if o.get("pubsub-sign").is_some() || !subscribe.is_empty() {
                crate::usage("--pubsub-sign and --subscribe need --pubsub gossipsub|floodsub");
            }
            return None;
        }
        Some("gossipsub") => Router::Gossipsub,
        Some("floodsub") => Router::Floodsub,
        Some(r) => crate::usage(&format!("--pubsub must be gossipsub or floodsub, not {r}")),
    };
    let sign = match o.get("pubsub-sign").unwrap_or("strict") {
        "strict" => true,
        "none" => false,
        s => crate::usage(&format!("--pubsub-sign must be strict or none, not {s}")),
    };
    Some(PubsubOptions { router, sign, subscribe })
}

/// The `--subscribe` topics, before the ready line.
pub async fn subscribe_initial(node: &crate::node::Node) -> Result<(), String> {
    if let Some(o) = &node.pubsub {
        for t in &o.subscribe {
            node.pubsub(Req::Subscribe(t.clone())).await?;
        }
    }
    Ok(())
}

/// After the ready line: start the `pubsub-peers` lines.
pub async fn after_ready(node: &crate::node::Node) {
    if node.pubsub.is_some() {
        let _ = node.pubsub(Req::Announce).await;
    }
}

/// `pubsub-subscribe TOPIC`, `pubsub-unsubscribe TOPIC`, `pubsub-publish TOPIC DATA_BASE64`,
/// `pubsub-peers TOPIC`
pub async fn command(node: &crate::node::Node, cmd: &str, args: &[String]) -> Result<Value, String> {
    let topic = || args.first().cloned().ok_or_else(|| "missing TOPIC argument".to_string());
    let req = match cmd {
        "pubsub-subscribe" => Req::Subscribe(topic()?),
        "pubsub-unsubscribe" => Req::Unsubscribe(topic()?),
        "pubsub-publish" => Req::Publish(topic()?, b64_decode(args.get(1).map(|s| s.as_str()).unwrap_or(""))?),
        "pubsub-peers" => Req::Peers(topic()?),
        _ => return Err("unknown command".into()),
    };
    node.pubsub(req).await
}
