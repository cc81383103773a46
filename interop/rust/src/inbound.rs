//! Inbound streams for our own protocols (echo, hash, perf, and protocols added at run time).
//!
//! `libp2p-stream` hands inbound streams to `IncomingStreams` through a channel with room for a
//! single stream and *drops* (resets) every further stream that arrives before the consumer took
//! the previous one. K concurrent test streams negotiated in the same poll of a connection would
//! be lost, so inbound streams use this small behaviour instead: every negotiated stream goes into
//! an unbounded channel. Outbound streams still use `libp2p_stream::Control`.

use std::{
    convert::Infallible,
    future::{ready, Ready},
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures::channel::mpsc;
use libp2p::{
    core::{transport::PortUse, Endpoint, InboundUpgrade, OutboundUpgrade, UpgradeInfo},
    swarm::{
        handler::{ConnectionEvent, FullyNegotiatedInbound},
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour, Stream,
        StreamProtocol, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

/// (remote peer, negotiated protocol, stream)
pub type InboundStream = (PeerId, StreamProtocol, Stream);

/// Shared between the behaviour, its handlers and the program: the protocols we accept.
#[derive(Clone)]
pub struct Registry {
    protocols: Arc<Mutex<Vec<StreamProtocol>>>,
    tx: mpsc::UnboundedSender<InboundStream>,
}

impl Registry {
    pub fn add(&self, p: StreamProtocol) -> bool {
        let mut ps = self.protocols.lock().unwrap();
        if ps.contains(&p) {
            return false;
        }
        ps.push(p);
        true
    }

    pub fn remove(&self, p: &str) -> bool {
        let mut ps = self.protocols.lock().unwrap();
        let before = ps.len();
        ps.retain(|x| x.as_ref() != p);
        before != ps.len()
    }

    pub fn list(&self) -> Vec<String> {
        self.protocols.lock().unwrap().iter().map(|p| p.to_string()).collect()
    }
}

pub struct Behaviour {
    registry: Registry,
}

impl Behaviour {
    pub fn new(protocols: Vec<StreamProtocol>) -> (Self, Registry, mpsc::UnboundedReceiver<InboundStream>) {
        let (tx, rx) = mpsc::unbounded();
        let registry = Registry { protocols: Arc::new(Mutex::new(protocols)), tx };
        (Self { registry: registry.clone() }, registry, rx)
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler { peer, registry: self.registry.clone() }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, ev: THandlerOutEvent<Self>) {
        match ev {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

pub struct Handler {
    peer: PeerId,
    registry: Registry,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Accept;
    type OutboundProtocol = Accept;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Infallible;

    fn listen_protocol(&self) -> SubstreamProtocol<Accept, ()> {
        // asked for every inbound stream (and on every connection poll, which is how identify
        // learns that the set changed)
        SubstreamProtocol::new(Accept(self.registry.protocols.lock().unwrap().clone()), ())
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<Accept, Infallible, Infallible>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, ev: Infallible) {
        match ev {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Accept, Accept, (), Infallible>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: (stream, proto), .. }) = event
        {
            // the receiver lives as long as the program; a send error only happens at shutdown
            let _ = self.registry.tx.unbounded_send((self.peer, proto, stream));
        }
    }
}

/// Accepts any of a list of protocols and hands out the raw stream.
pub struct Accept(Vec<StreamProtocol>);

impl UpgradeInfo for Accept {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Accept {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, info: StreamProtocol) -> Self::Future {
        ready(Ok((stream, info)))
    }
}

impl OutboundUpgrade<Stream> for Accept {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, info: StreamProtocol) -> Self::Future {
        ready(Ok((stream, info)))
    }
}
