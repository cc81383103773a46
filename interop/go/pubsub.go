package main

// The pubsub role of `listen` (--pubsub gossipsub|floodsub [--pubsub-sign strict|none]
// [--subscribe TOPIC]...): go-libp2p-pubsub, the pubsub-* stdin commands and the
// pubsub-message / pubsub-peers event lines. See README.md, "pubsub".
//
// Message ids, the same in every interop peer program and in aiolibp2p's tests:
// StrictSign: from (the author's peer id bytes) + seqno (8 bytes, big-endian), go's
// DefaultMsgIdFn; StrictNoSign: sha256(data).

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// how often the mesh and subscriber sets are compared with the last reported ones
const pubsubWatchInterval = 100 * time.Millisecond

// the running pubsub role (nil without --pubsub); runCommand reaches it through here
var activePubsub *pubsubRole

type joinedTopic struct {
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
}

type pubsubRole struct {
	h      host.Host
	ps     *pubsub.PubSub
	router string
	sign   string
	report func(obj)
	ctx    context.Context

	mu       sync.Mutex
	topics   map[string]*joinedTopic
	mesh     map[string]map[peer.ID]bool // from the tracer's Graft/Prune
	reported map[string]string
}

func contentMsgID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

func fromSeqnoMsgID(m *pb.Message) string {
	return string(m.From) + string(m.Seqno)
}

func checkPubsubOptions(o *options) {
	if o.pubsub == "" {
		if o.pubsubSign != "" || len(o.subscribe) > 0 {
			usage("--pubsub-sign and --subscribe need --pubsub gossipsub|floodsub")
		}
		return
	}
	if o.pubsub != "gossipsub" && o.pubsub != "floodsub" {
		usage("--pubsub must be gossipsub or floodsub")
	}
	if o.pubsubSign == "" {
		o.pubsubSign = "strict"
	}
	if o.pubsubSign != "strict" && o.pubsubSign != "none" {
		usage("--pubsub-sign must be strict or none")
	}
}

// startPubsub runs the router on h and joins the --subscribe topics (before the ready line).
func startPubsub(h host.Host, o *options, report func(obj)) (*pubsubRole, error) {
	checkPubsubOptions(o)
	if o.pubsub == "" {
		return nil, nil
	}
	r := &pubsubRole{h: h, router: o.pubsub, sign: o.pubsubSign, report: report, ctx: context.Background(),
		topics: map[string]*joinedTopic{}, mesh: map[string]map[peer.ID]bool{}, reported: map[string]string{}}
	opts := []pubsub.Option{pubsub.WithRawTracer(r)}
	if o.pubsubSign == "strict" {
		opts = append(opts, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
			pubsub.WithMessageIdFn(fromSeqnoMsgID))
	} else {
		// no signature, and no from/seqno/key either (go then rejects messages carrying them)
		opts = append(opts, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
			pubsub.WithMessageIdFn(contentMsgID))
	}
	var err error
	if o.pubsub == "gossipsub" {
		r.ps, err = pubsub.NewGossipSub(r.ctx, h, opts...)
	} else {
		r.ps, err = pubsub.NewFloodSub(r.ctx, h, opts...)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range o.subscribe {
		if _, err := r.subscribe(t); err != nil {
			return nil, err
		}
	}
	activePubsub = r
	return r, nil
}

func (r *pubsubRole) subscribe(name string) (obj, error) {
	// never hold r.mu across Join/Subscribe: pubsub's event loop calls the tracer (Graft), which takes it
	r.mu.Lock()
	_, ok := r.topics[name]
	r.mu.Unlock()
	if ok {
		return obj{{"topic", name}}, nil
	}
	t, err := r.ps.Join(name)
	if err != nil {
		return nil, err
	}
	sub, err := t.Subscribe()
	if err != nil {
		t.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.mu.Lock()
	r.topics[name] = &joinedTopic{topic: t, sub: sub, cancel: cancel}
	r.mu.Unlock()
	go r.deliver(ctx, sub)
	return obj{{"topic", name}}, nil
}

func (r *pubsubRole) unsubscribe(name string) (obj, error) {
	r.mu.Lock()
	j, ok := r.topics[name]
	delete(r.topics, name)
	delete(r.reported, name)
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("not subscribed to %s", name)
	}
	j.cancel()
	j.sub.Cancel()
	if err := j.topic.Close(); err != nil {
		return nil, err
	}
	return obj{{"topic", name}}, nil
}

// deliver prints every message of sub that another peer sent us (go also hands our own
// publications to our subscriptions; the other programs do not, so they are skipped).
func (r *pubsubRole) deliver(ctx context.Context, sub *pubsub.Subscription) {
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == r.h.ID() || benchRecord(m) {
			continue
		}
		var from, seqno any
		if len(m.From) > 0 {
			if p, err := peer.IDFromBytes(m.From); err == nil {
				from = p.String()
			} else {
				from = hex.EncodeToString(m.From)
			}
		}
		if m.Seqno != nil {
			seqno = hex.EncodeToString(m.Seqno)
		}
		r.report(obj{{"event", "pubsub-message"}, {"topic", m.GetTopic()}, {"from", from}, {"seqno", seqno},
			{"data_base64", base64.StdEncoding.EncodeToString(m.Data)},
			{"message_id", hex.EncodeToString([]byte(m.ID))}, {"received_from", m.ReceivedFrom.String()}})
	}
}

func (r *pubsubRole) peersJSON(name string) obj {
	subs := r.ps.ListPeers(name)
	var mesh []peer.ID
	if r.router == "floodsub" {
		mesh = subs // no mesh: every subscriber gets every message
	} else {
		r.mu.Lock()
		for p := range r.mesh[name] {
			if slices.Contains(subs, p) { // the tracer has no event for a departed peer
				mesh = append(mesh, p)
			}
		}
		r.mu.Unlock()
	}
	return obj{{"topic", name}, {"mesh", sortedIDs(mesh)}, {"subscribers", sortedIDs(subs)}}
}

func sortedIDs(ps []peer.ID) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// watch prints a pubsub-peers line (start it after the ready line) whenever a subscribed topic's mesh or subscribers change.
func (r *pubsubRole) watch() {
	tick := time.NewTicker(pubsubWatchInterval)
	defer tick.Stop()
	for range tick.C {
		r.mu.Lock()
		names := make([]string, 0, len(r.topics))
		for n := range r.topics {
			names = append(names, n)
		}
		r.mu.Unlock()
		slices.Sort(names)
		for _, n := range names {
			j := r.peersJSON(n)
			key := mustJSON(j)
			r.mu.Lock()
			changed := r.reported[n] != key
			if _, still := r.topics[n]; changed && still {
				r.reported[n] = key
			}
			r.mu.Unlock()
			if changed {
				r.report(append(obj{{"event", "pubsub-peers"}}, j...))
			}
		}
	}
}

// pubsubCommand runs pubsub-subscribe TOPIC, pubsub-unsubscribe TOPIC,
// pubsub-publish TOPIC DATA_BASE64 and pubsub-peers TOPIC.
func pubsubCommand(ctx context.Context, cmd string, args []string) (obj, error) {
	r := activePubsub
	if r == nil {
		return nil, errors.New("no pubsub: start with --pubsub gossipsub|floodsub")
	}
	if len(args) == 0 {
		return nil, errors.New("missing TOPIC argument")
	}
	name := args[0]
	switch cmd {
	case "pubsub-bench-start", "pubsub-bench-publish", "pubsub-bench-stats":
		return r.benchCommand(ctx, cmd, name, args)
	case "pubsub-subscribe":
		return r.subscribe(name)
	case "pubsub-unsubscribe":
		return r.unsubscribe(name)
	case "pubsub-peers":
		return r.peersJSON(name), nil
	case "pubsub-publish":
		data := []byte{}
		if len(args) > 1 {
			var err error
			if data, err = base64.StdEncoding.DecodeString(args[1]); err != nil {
				return nil, fmt.Errorf("bad base64: %w", err)
			}
		}
		r.mu.Lock()
		j, ok := r.topics[name]
		r.mu.Unlock()
		var t *pubsub.Topic
		if ok {
			t = j.topic
		} else {
			var err error
			if t, err = r.ps.Join(name); err != nil { // publishing without subscribing
				return nil, err
			}
			defer t.Close()
		}
		if err := t.Publish(ctx, data); err != nil {
			return nil, err
		}
		return obj{{"topic", name}}, nil
	}
	return nil, errors.New("unknown command")
}

// RawTracer: only Graft and Prune matter here (the mesh per topic).

func (r *pubsubRole) Graft(p peer.ID, topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mesh[topic] == nil {
		r.mesh[topic] = map[peer.ID]bool{}
	}
	r.mesh[topic][p] = true
}

func (r *pubsubRole) Prune(p peer.ID, topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mesh[topic], p)
}

func (r *pubsubRole) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (r *pubsubRole) OnClosedOutboundStream(peer.ID)           {}
func (r *pubsubRole) Join(string)                              {}
func (r *pubsubRole) Leave(topic string)                       { r.mu.Lock(); delete(r.mesh, topic); r.mu.Unlock() }
func (r *pubsubRole) ValidateMessage(*pubsub.Message)          {}
func (r *pubsubRole) DeliverMessage(*pubsub.Message)           {}
func (r *pubsubRole) RejectMessage(m *pubsub.Message, reason string) {
	logf("pubsub: rejected a message from %s: %s", m.ReceivedFrom, reason)
}
func (r *pubsubRole) DuplicateMessage(*pubsub.Message)                     {}
func (r *pubsubRole) ThrottlePeer(peer.ID)                                 {}
func (r *pubsubRole) RecvRPC(*pubsub.RPC)                                  {}
func (r *pubsubRole) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (r *pubsubRole) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (r *pubsubRole) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (r *pubsubRole) UndeliverableMessage(m *pubsub.Message) {
	logf("pubsub: undeliverable message on %s", m.GetTopic())
}
