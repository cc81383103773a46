package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/record"
	pb "github.com/libp2p/go-libp2p/p2p/protocol/identify/pb"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multistream"
)

const (
	identifyProtocol = "/ipfs/id/1.0.0"
	cmdTimeout       = 30 * time.Second // per stdin command
)

func runListen(o *options) int {
	key, err := loadKey(o.keyType, o.keySeed)
	if err != nil {
		usage("%v", err)
	}
	listen := []string(o.listen)
	if len(listen) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	muxers := []string{"yamux", "mplex"} // both, --muxer first
	if o.muxer == "mplex" {
		muxers = []string{"mplex", "yamux"}
	}
	report := func(j obj) {
		if o.events {
			emit(j)
		}
	}
	h, err := newHost(nodeConfig{key: key, listen: listen, muxers: muxers, security: o.security, agent: o.agent})
	if err != nil {
		logf("cannot start: %v", err)
		return 1
	}
	registerHandlers(h, func(j obj) { report(j) })
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			report(append(obj{{"event", "connection_open"}}, connJSON(c)...))
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			report(append(obj{{"event", "connection_close"}}, connJSON(c)...))
		},
	})
	if _, err := watchIdentify(h, func(kind string, j obj) {
		logf("%s: %s", kind, mustJSON(j))
		report(append(obj{{"event", kind}}, j...))
	}); err != nil {
		logf("cannot watch identify: %v", err)
		return 1
	}
	// before the ready line, so that it lists /ipfs/kad/1.0.0 for a server
	var d *kaddht.IpfsDHT
	if o.dht != "" {
		if d, err = newDHT(h, o.dht, o.dhtNoRefresh); err != nil {
			logf("cannot start the DHT: %v", err)
			closeHost(h)
			return 1
		}
	}

	// before the ready line, which lists its protocols; its --subscribe topics joined
	ps, err := startPubsub(h, o, report)
	if err != nil {
		logf("cannot start pubsub: %v", err)
		closeHost(h)
		return 1
	}

	// before the ready line: a harness may signal as soon as it has read it
	stop := make(chan string, 4)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	agent := o.agent
	if agent == "" {
		agent = defaultAgent()
	}
	ready := obj{
		{"peer_id", h.ID().String()},
		{"multiaddrs", p2pAddrs(h)},
		{"agent", agent},
		{"protocols", hostProtocols(h)},
	}
	if d != nil {
		ready = append(ready, kv{"dht", o.dht})
	}
	if ps != nil {
		ready = append(ready, kv{"pubsub", o.pubsub}, kv{"pubsub_sign", o.pubsubSign})
	}
	emit(ready)
	if ps != nil {
		go ps.watch()
	}
	if o.mdns { // after the ready line: the addresses are final; closed by closeHost
		if _, err := startMdns(h); err != nil {
			logf("cannot start mDNS: %v", err)
			closeHost(h)
			return 1
		}
	}
	logf("listening as %s on %s (muxers: %s preferred, security %s)", h.ID(),
		strings.Join(p2pAddrs(h), " "), o.muxer, o.security)
	if d != nil {
		logf("dht %s on %s, auto refresh %v", o.dht, kadProtocol, !o.dhtNoRefresh)
	}

	go func() { s := <-sigs; stop <- s.String() }()
	if !o.ignoreStdin {
		go readCommands(h, d, report, stop)
	}
	why := <-stop
	logf("shutting down (%s)", why)
	grace := stopTimeout + time.Second
	if d != nil {
		grace += stopTimeout // closeDHT's bound
	}
	hard := time.AfterFunc(grace, func() { os.Exit(0) })
	defer hard.Stop()
	if d != nil {
		closeDHT(d) // first: no lookup may outlive the host
	}
	closeHost(h)
	return 0
}

func mustJSON(v any) string {
	b, err := (obj{{"v", v}}).MarshalJSON()
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(b), `{"v": `), "}")
}

// readCommands serves stdin commands until EOF (which stops the peer).
func readCommands(h host.Host, d *kaddht.IpfsDHT, report func(obj), stop chan<- string) {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) == 0 {
			continue
		}
		cmd, args := parts[0], parts[1:]
		if cmd == "quit" {
			report(obj{{"event", "cmd_result"}, {"cmd", cmd}, {"args", args}, {"ok", true}})
			stop <- "quit command"
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			defer cancel()
			res, err := runCommand(ctx, h, d, report, cmd, args)
			out := obj{{"event", "cmd_result"}, {"cmd", cmd}, {"args", args}, {"ok", err == nil}}
			if err != nil {
				out = append(out, kv{"error", errText(err)})
			}
			report(append(out, res...))
		}()
	}
	stop <- "stdin closed"
}

func argPeer(args []string) (peer.ID, error) {
	if len(args) == 0 {
		return "", errors.New("missing PEER argument")
	}
	return peer.Decode(args[0])
}

func argInt(args []string, i int, dflt int64) (int64, error) {
	if len(args) <= i {
		return dflt, nil
	}
	n, err := strconv.ParseInt(args[i], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad number %q", args[i])
	}
	return n, nil
}

func runCommand(ctx context.Context, h host.Host, d *kaddht.IpfsDHT, report func(obj), cmd string,
	args []string) (obj, error) {
	if strings.HasPrefix(cmd, "dht-") {
		return dhtCommand(ctx, h, d, cmd, args)
	}
	if strings.HasPrefix(cmd, "pubsub-") {
		return pubsubCommand(ctx, cmd, args)
	}
	switch cmd {
	case "connect":
		return connectPeer(ctx, h, d, args)
	case "add-protocol":
		if len(args) == 0 {
			return nil, errors.New("missing PROTOCOL argument")
		}
		// go-libp2p pushes identify to connected peers when its protocols change
		h.SetStreamHandler(protocol.ID(args[0]), echoHandler(func(j obj) { report(j) }))
		return obj{{"protocols", hostProtocols(h)}}, nil
	case "remove-protocol":
		if len(args) == 0 {
			return nil, errors.New("missing PROTOCOL argument")
		}
		h.RemoveStreamHandler(protocol.ID(args[0]))
		return obj{{"protocols", hostProtocols(h)}}, nil
	case "push":
		return nil, errors.New("go-libp2p has no public way to force an identify/push; it pushes by itself " +
			"when the protocols or addresses change (use add-protocol / remove-protocol)")
	case "ping":
		p, err := argPeer(args)
		if err != nil {
			return nil, err
		}
		n, err := argInt(args, 1, 1)
		if err != nil {
			return nil, err
		}
		if firstConn(h, p) == nil {
			return nil, fmt.Errorf("not connected to %s", p)
		}
		rtts, err := pingRTTs(ctx, h, p, int(n))
		return obj{{"rtts_ms", rtts}}, err
	case "echo":
		p, err := argPeer(args)
		if err != nil {
			return nil, err
		}
		n, err := argInt(args, 1, 1024)
		if err != nil {
			return nil, err
		}
		if firstConn(h, p) == nil {
			return nil, fmt.Errorf("not connected to %s", p)
		}
		if err := checkedStream(ctx, h, p, echoProtocol, n); err != nil {
			return nil, err
		}
		return obj{{"ok", true}}, nil
	case "identify":
		p, err := argPeer(args)
		if err != nil {
			return nil, err
		}
		c := firstConn(h, p)
		if c == nil {
			return nil, fmt.Errorf("not connected to %s", p)
		}
		j, env, err := identifyRequest(ctx, c)
		if err != nil {
			return nil, err
		}
		return append(j, kv{"peer_store", peerStoreInfo(h, p, env)}), nil
	case "peer-info":
		p, err := argPeer(args)
		if err != nil {
			return nil, err
		}
		return peerStoreInfo(h, p, nil), nil
	case "connections":
		conns := []obj{}
		for _, c := range h.Network().Conns() {
			conns = append(conns, connJSON(c))
		}
		return obj{{"connections", conns}}, nil
	}
	return nil, errors.New("unknown command")
}

// identifyRequest runs a fresh /ipfs/id/1.0.0 request on conn c by hand
// (go-libp2p's identify service identifies each connection only once) and
// decodes the answer; it does not update the peerstore.
func identifyRequest(ctx context.Context, c network.Conn) (obj, *record.Envelope, error) {
	s, err := c.NewStream(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if err := selectProtocol(s, identifyProtocol); err != nil {
		s.Reset()
		return nil, nil, err
	}
	s.CloseWrite()
	r := pbio.NewDelimitedReader(s, 64*1024)
	msg := &pb.Identify{}
	for i := 0; i < 10; i++ { // go-libp2p merges up to 10 messages too
		part := &pb.Identify{}
		if err := r.ReadMsg(part); err != nil {
			if errors.Is(err, io.EOF) && i > 0 {
				break
			}
			s.Reset()
			return nil, nil, fmt.Errorf("identify: read: %w", err)
		}
		mergeIdentify(msg, part)
	}
	var env *record.Envelope
	if raw := msg.GetSignedPeerRecord(); raw != nil {
		e, rec, err := record.ConsumeEnvelope(raw, peer.PeerRecordEnvelopeDomain)
		if err == nil {
			if pr, ok := rec.(*peer.PeerRecord); ok && pr.PeerID == c.RemotePeer() {
				env = e
			}
		}
	}
	listen := []string{}
	for _, b := range msg.GetListenAddrs() {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			listen = append(listen, a.String())
		}
	}
	var observed any
	if a, err := ma.NewMultiaddrBytes(msg.GetObservedAddr()); err == nil {
		observed = a.String()
	}
	protos := msg.GetProtocols()
	if protos == nil {
		protos = []string{}
	}
	return obj{
		{"peer", c.RemotePeer().String()},
		{"agent", nullIfNil(msg.AgentVersion)},
		{"protocol_version", nullIfNil(msg.ProtocolVersion)},
		{"protocols", protos},
		{"listen_addrs", listen},
		{"observed_addr", observed},
		{"has_public_key", len(msg.GetPublicKey()) > 0},
		{"signed_peer_record", recordJSON(env)},
	}, env, nil
}

func mergeIdentify(dst, src *pb.Identify) {
	if src.PublicKey != nil {
		dst.PublicKey = src.PublicKey
	}
	dst.ListenAddrs = append(dst.ListenAddrs, src.ListenAddrs...)
	dst.Protocols = append(dst.Protocols, src.Protocols...)
	if src.ObservedAddr != nil {
		dst.ObservedAddr = src.ObservedAddr
	}
	if src.ProtocolVersion != nil {
		dst.ProtocolVersion = src.ProtocolVersion
	}
	if src.AgentVersion != nil {
		dst.AgentVersion = src.AgentVersion
	}
	if src.SignedPeerRecord != nil {
		dst.SignedPeerRecord = src.SignedPeerRecord
	}
}

// selectProtocol negotiates p with multistream-select on a raw stream.
func selectProtocol(s network.Stream, p string) error {
	if err := multistream.SelectProtoOrFail(protocol.ID(p), s); err != nil {
		return fmt.Errorf("negotiating %s: %w", p, err)
	}
	return s.SetProtocol(protocol.ID(p))
}

func nullIfNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
