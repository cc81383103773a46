// Mode gossipsub-interop: a go-libp2p-pubsub node obeying the libp2p/test-plans
// gossipsub-interop node contract (test-specs/implementation.md), so the aiolibp2p runner
// (interop/gossipsub_interop/runner.py) can put go beside our node on loopback.
//
//	peer gossipsub-interop --params params.json [--node-id N] [--loopback-base-port P] [--start-time UNIX_NS]
//
// Node id from the host name node<N> unless --node-id (or GOSSIPSUB_INTEROP_NODE_ID) is given;
// Ed25519 seed = node id little-endian; node N listens on 0.0.0.0:9000 (Shadow) or, with
// --loopback-base-port P, on 127.0.0.1:P+N. stdout: one JSON object per line ("PeerID",
// "Received Message" for every copy received, "Published Message"); stderr: diagnostics.
// Partial messages (addPartialMessage, publishPartial, subscribeToTopic partial) are refused
// with exit code 3, as by our node.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

const (
	gsiShadowPort      = 9000
	gsiConnectDeadline = 30 * time.Second
	gsiAttemptTimeout  = 5 * time.Second
	gsiMaxMessageSize  = 10 << 20
	gsiMaxNesting      = 16
)

var errGsiUnsupported = errors.New("partial messages are not supported by this node")

// gsiInstruction is one decoded script instruction; kind is its JSON "type".
type gsiInstruction struct {
	kind             string
	connectTo        []int
	nodeID           int
	nested           *gsiInstruction
	elapsedSeconds   int
	messageID        uint64
	messageSizeBytes int
	topicID          string
	partial          bool
	delaySeconds     float64
	params           pubsub.GossipSubParams
}

type gsiRaw struct {
	Type             string          `json:"type"`
	ConnectTo        []int           `json:"connectTo"`
	NodeID           *int            `json:"nodeID"`
	Instruction      json.RawMessage `json:"instruction"`
	ElapsedSeconds   *int            `json:"elapsedSeconds"`
	MessageID        *uint64         `json:"messageID"`
	MessageSizeBytes *int            `json:"messageSizeBytes"`
	TopicID          *string         `json:"topicID"`
	Partial          bool            `json:"partial"`
	DelaySeconds     *float64        `json:"delaySeconds"`
	GossipSubParams  json.RawMessage `json:"gossipSubParams"`
	GroupID          *uint64         `json:"groupID"`
	Parts            *int            `json:"parts"`
}

func gsiDecode(data []byte, depth int) (*gsiInstruction, error) {
	if depth > gsiMaxNesting {
		return nil, fmt.Errorf("ifNodeIDEquals nested too deeply")
	}
	var r gsiRaw
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	in := &gsiInstruction{kind: r.Type, partial: r.Partial}
	need := func(ok bool, field string) error {
		if !ok {
			return fmt.Errorf("%s instruction lacks %s", r.Type, field)
		}
		return nil
	}
	topic := func() error {
		if err := need(r.TopicID != nil, "topicID"); err != nil {
			return err
		}
		in.topicID = *r.TopicID
		return nil
	}
	switch r.Type {
	case "connect":
		if err := need(r.ConnectTo != nil, "connectTo"); err != nil {
			return nil, err
		}
		in.connectTo = r.ConnectTo
	case "ifNodeIDEquals":
		if err := need(r.NodeID != nil && len(r.Instruction) > 0, "nodeID/instruction"); err != nil {
			return nil, err
		}
		in.nodeID = *r.NodeID
		nested, err := gsiDecode(r.Instruction, depth+1)
		if err != nil {
			return nil, err
		}
		in.nested = nested
	case "waitUntil":
		if err := need(r.ElapsedSeconds != nil && *r.ElapsedSeconds >= 0, "elapsedSeconds"); err != nil {
			return nil, err
		}
		in.elapsedSeconds = *r.ElapsedSeconds
	case "publish":
		if err := need(r.MessageID != nil && r.MessageSizeBytes != nil, "messageID/messageSizeBytes"); err != nil {
			return nil, err
		}
		if *r.MessageSizeBytes < 8 || *r.MessageSizeBytes > gsiMaxMessageSize {
			return nil, fmt.Errorf("messageSizeBytes must be in [8, %d]", gsiMaxMessageSize)
		}
		in.messageID, in.messageSizeBytes = *r.MessageID, *r.MessageSizeBytes
		if err := topic(); err != nil {
			return nil, err
		}
	case "subscribeToTopic":
		if err := topic(); err != nil {
			return nil, err
		}
	case "setTopicValidationDelay":
		if err := need(r.DelaySeconds != nil && *r.DelaySeconds >= 0 && *r.DelaySeconds <= 3600, "delaySeconds"); err != nil {
			return nil, err
		}
		in.delaySeconds = *r.DelaySeconds
		if err := topic(); err != nil {
			return nil, err
		}
	case "initGossipSub":
		// go's defaults, overridden by the fields present (durations are nanoseconds)
		in.params = pubsub.DefaultGossipSubParams()
		if len(r.GossipSubParams) > 0 && string(r.GossipSubParams) != "null" {
			if err := json.Unmarshal(r.GossipSubParams, &in.params); err != nil {
				return nil, fmt.Errorf("gossipSubParams: %w", err)
			}
		}
	case "addPartialMessage", "publishPartial":
		if err := topic(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown instruction type %q", r.Type)
	}
	return in, nil
}

func gsiReadParams(path string) ([]*gsiInstruction, error) {
	if !strings.HasSuffix(path, ".json") {
		return nil, fmt.Errorf("the params file must be a .json file")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top struct {
		Script []json.RawMessage `json:"script"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	script := make([]*gsiInstruction, 0, len(top.Script))
	for _, raw := range top.Script {
		in, err := gsiDecode(raw, 0)
		if err != nil {
			return nil, err
		}
		script = append(script, in)
	}
	return script, nil
}

// gsiNodeKey is the contract's key: Ed25519 seed = node id little-endian, zero padded.
func gsiNodeKey(id int) crypto.PrivKey {
	seed := make([]byte, ed25519.SeedSize)
	binary.LittleEndian.PutUint64(seed[:8], uint64(id))
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(err)
	}
	return key
}

// gsiLog writes the contract's newline-delimited JSON on stdout, one writer at a time.
type gsiLog struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *gsiLog) event(msg string, kv ...any) {
	rec := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "level": "INFO", "msg": msg}
	for i := 0; i+1 < len(kv); i += 2 {
		rec[kv[i].(string)] = kv[i+1]
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out.Write(append(line, '\n'))
}

// gsiTracer logs every message of every received RPC (duplicates included) as "Received Message".
type gsiTracer struct{ log *gsiLog }

func (t *gsiTracer) Trace(evt *pb.TraceEvent) {
	if evt.GetType() != pb.TraceEvent_RECV_RPC {
		return
	}
	recv := evt.GetRecvRPC()
	from := peer.ID(recv.GetReceivedFrom()).String()
	for _, m := range recv.GetMeta().GetMessages() {
		id := m.GetMessageID()
		idText := ""
		if len(id) >= 8 {
			idText = strconv.FormatUint(binary.BigEndian.Uint64(id[:8]), 10)
		}
		t.log.event("Received Message", "service", "gossipsub", "from", from, "topic", m.GetTopic(), "id", idText)
	}
}

type gsiNode struct {
	nodeID   int
	basePort int // 0: Shadow addressing
	start    time.Time
	log      *gsiLog
	h        host.Host
	ps       *pubsub.PubSub
	topics   map[string]*pubsub.Topic
	subs     map[string]*pubsub.Subscription
	ctx      context.Context
}

func (n *gsiNode) peerAddr(id int) (string, error) {
	pid, err := peer.IDFromPrivateKey(gsiNodeKey(id))
	if err != nil {
		return "", err
	}
	if n.basePort != 0 {
		return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", n.basePort+id, pid), nil
	}
	addrs, err := net.LookupHost(fmt.Sprintf("node%d", id))
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("node%d does not resolve: %v", id, err)
	}
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", addrs[0], gsiShadowPort, pid), nil
}

func (n *gsiNode) connect(id int) error {
	addr, err := n.peerAddr(id)
	if err != nil {
		return err
	}
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(gsiConnectDeadline)
	delay := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(n.ctx, gsiAttemptTimeout)
		err = n.h.Connect(ctx, *info)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("could not connect to node%d at %s: %w", id, addr, err)
		}
		// a failed dial backs the peer off in the swarm; the retry must not hit that cache
		if sw, ok := n.h.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(info.ID)
		}
		time.Sleep(delay)
		delay = min(delay*2, time.Second)
	}
}

func (n *gsiNode) topic(name string) (*pubsub.Topic, error) {
	if t, ok := n.topics[name]; ok {
		return t, nil
	}
	t, err := n.ps.Join(name)
	if err != nil {
		return nil, err
	}
	n.topics[name] = t
	return t, nil
}

func (n *gsiNode) run(in *gsiInstruction) error {
	if in.kind != "initGossipSub" && in.kind != "ifNodeIDEquals" && in.kind != "waitUntil" && in.kind != "connect" && n.ps == nil {
		return fmt.Errorf("initGossipSub must come before %s", in.kind)
	}
	switch in.kind {
	case "ifNodeIDEquals":
		if in.nodeID == n.nodeID {
			return n.run(in.nested)
		}
	case "initGossipSub":
		if n.ps != nil {
			return fmt.Errorf("initGossipSub given twice")
		}
		// as the harness' go node: no author, content ids from the first 8 bytes, 10 MiB, no score
		ps, err := pubsub.NewGossipSub(n.ctx, n.h,
			pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
			pubsub.WithNoAuthor(),
			pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(m.Data[:min(8, len(m.Data))]) }),
			pubsub.WithPeerOutboundQueueSize(600),
			pubsub.WithValidateQueueSize(600),
			pubsub.WithMaxMessageSize(gsiMaxMessageSize),
			pubsub.WithGossipSubParams(in.params),
			pubsub.WithEventTracer(&gsiTracer{log: n.log}),
		)
		if err != nil {
			return err
		}
		n.ps = ps
	case "connect":
		for _, id := range in.connectTo {
			if err := n.connect(id); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "node %d connected to %d peers\n", n.nodeID, len(n.h.Network().Peers()))
	case "waitUntil":
		if wait := time.Until(n.start.Add(time.Duration(in.elapsedSeconds) * time.Second)); wait > 0 {
			time.Sleep(wait)
		}
	case "publish":
		t, err := n.topic(in.topicID)
		if err != nil {
			return err
		}
		msg := make([]byte, in.messageSizeBytes)
		binary.BigEndian.PutUint64(msg, in.messageID)
		n.log.event("Published Message", "service", "gossipsub", "topic", in.topicID,
			"id", strconv.FormatUint(in.messageID, 10))
		if err := t.Publish(n.ctx, msg); err != nil {
			return fmt.Errorf("publish %d: %w", in.messageID, err)
		}
	case "subscribeToTopic":
		if in.partial {
			return errGsiUnsupported
		}
		if _, ok := n.subs[in.topicID]; ok {
			return nil
		}
		t, err := n.topic(in.topicID)
		if err != nil {
			return err
		}
		sub, err := t.Subscribe()
		if err != nil {
			return err
		}
		n.subs[in.topicID] = sub
		go func() { // deliveries are logged by the tracer; reading keeps the buffer from filling
			for {
				if _, err := sub.Next(n.ctx); err != nil {
					return
				}
			}
		}()
	case "setTopicValidationDelay":
		delay := time.Duration(in.delaySeconds * float64(time.Second))
		return n.ps.RegisterTopicValidator(in.topicID, func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
			time.Sleep(delay)
			return pubsub.ValidationAccept
		})
	case "addPartialMessage", "publishPartial":
		return errGsiUnsupported
	default:
		return fmt.Errorf("unknown instruction %q", in.kind)
	}
	return nil
}

func runGossipsubInterop(args []string) int {
	fs := flag.NewFlagSet("gossipsub-interop", flag.ContinueOnError)
	paramsPath := fs.String("params", "", "the harness' params.json")
	nodeIDFlag := fs.Int("node-id", -1, "override the node id from the host name")
	basePort := fs.Int("loopback-base-port", 0, "node N listens on 127.0.0.1:PORT+N (no Shadow)")
	startNs := fs.Int64("start-time", 0, "time origin of waitUntil, Unix nanoseconds")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *paramsPath == "" {
		fmt.Fprintln(os.Stderr, "usage: peer gossipsub-interop --params FILE.json [--node-id N] [--loopback-base-port P] [--start-time UNIX_NS]")
		return 2
	}
	start := time.Now()
	if *startNs > 0 {
		start = time.Unix(0, *startNs)
	}
	if *basePort == 0 {
		if v := os.Getenv("GOSSIPSUB_INTEROP_BASE_PORT"); v != "" {
			*basePort, _ = strconv.Atoi(v)
		}
	}
	nodeID := *nodeIDFlag
	if nodeID < 0 {
		if v := os.Getenv("GOSSIPSUB_INTEROP_NODE_ID"); v != "" {
			nodeID, _ = strconv.Atoi(v)
		} else if hostname, err := os.Hostname(); err == nil {
			if _, err := fmt.Sscanf(hostname, "node%d", &nodeID); err != nil {
				nodeID = -1
			}
		}
	}
	if nodeID < 0 {
		fmt.Fprintln(os.Stderr, "error: no node id (host name is not node<N>; give --node-id)")
		return 2
	}
	script, err := gsiReadParams(*paramsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	listen := fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", gsiShadowPort)
	if *basePort != 0 {
		listen = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", *basePort+nodeID)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings(listen), libp2p.Identity(gsiNodeKey(nodeID)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := &gsiNode{nodeID: nodeID, basePort: *basePort, start: start, log: &gsiLog{out: os.Stdout}, h: h,
		topics: map[string]*pubsub.Topic{}, subs: map[string]*pubsub.Subscription{}, ctx: ctx}
	n.log.event("PeerID", "id", h.ID().String(), "node_id", nodeID)
	// a start time in the future: listen now, run the script from then (a runner starts every
	// process first, as Shadow starts all hosts at once)
	if wait := time.Until(start); wait > 0 {
		time.Sleep(wait)
	}
	for _, in := range script {
		if err := n.run(in); err != nil {
			if errors.Is(err, errGsiUnsupported) {
				fmt.Fprintln(os.Stderr, "unsupported:", err)
				return 3
			}
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
	}
	return 0
}
