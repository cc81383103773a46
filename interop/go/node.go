package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	mplex "github.com/libp2p/go-libp2p-mplex"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	echoProtocol = "/echo/1.0.0"
	hashProtocol = "/hash/1.0.0"
	perfProtocol = "/perf/1.0.0"
	pingProtocol = ping.ID
	chunkSize    = 64 * 1024
	stopTimeout  = 3 * time.Second
	// upper bound for one handler stream (a stuck remote must not pin a goroutine forever)
	handlerDeadline = 10 * time.Minute
)

var muxerIDs = map[string]protocol.ID{"yamux": yamux.ID, "mplex": mplex.ID}

// ------------------------------------------------------------------ output

// obj is a JSON object that keeps its keys in insertion order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteString(": ")
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// get returns the value of key k (nil when absent).
func (o obj) get(k string) any {
	for _, e := range o {
		if e.k == k {
			return e.v
		}
	}
	return nil
}

// with returns o with key k set to v (replaced in place when present, appended otherwise).
func (o obj) with(k string, v any) obj {
	for i := range o {
		if o[i].k == k {
			o[i].v = v
			return o
		}
	}
	return append(o, kv{k, v})
}

var stdoutMu sync.Mutex

// emit writes one JSON line to stdout.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		logf("cannot encode output: %v", err)
		return
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[go-peer] "+format+"\n", args...)
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// ---------------------------------------------------------------- identity

func loadKey(keyType, seedHex string) (crypto.PrivKey, error) {
	keyType = strings.ToLower(keyType)
	if seedHex != "" {
		if keyType != "ed25519" {
			return nil, errors.New("--key-seed only works with --key-type ed25519")
		}
		seed, err := hex.DecodeString(seedHex)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, errors.New("--key-seed must be 64 hex characters (32 bytes)")
		}
		return ed25519FromSeed(seed)
	}
	switch keyType {
	case "ed25519":
		k, _, err := crypto.GenerateKeyPair(crypto.Ed25519, -1)
		return k, err
	case "secp256k1":
		k, _, err := crypto.GenerateKeyPair(crypto.Secp256k1, -1)
		return k, err
	case "rsa":
		k, _, err := crypto.GenerateKeyPair(crypto.RSA, 2048)
		return k, err
	case "ecdsa":
		k, _, err := crypto.GenerateKeyPair(crypto.ECDSA, -1) // P-256
		return k, err
	}
	return nil, fmt.Errorf("--key-type must be ed25519, secp256k1, rsa or ecdsa, not %q", keyType)
}

func ed25519FromSeed(seed []byte) (crypto.PrivKey, error) {
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
}

func goLibp2pVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/libp2p/go-libp2p" {
				return strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return "unknown"
}

func defaultAgent() string {
	return fmt.Sprintf("go-libp2p/%s %s", goLibp2pVersion(), runtime.Version())
}

// ------------------------------------------------------------------- host

type nodeConfig struct {
	key      crypto.PrivKey
	listen   []string // empty: no listener
	muxers   []string // preference order
	security string   // noise or tls
	agent    string
}

// newHost builds a go-libp2p host with TCP (and QUIC), one security channel and the given
// muxers; nothing else reaches the network (no relay, NAT port mapping, metrics).
func newHost(cfg nodeConfig) (host.Host, error) {
	agent := cfg.agent
	if agent == "" {
		agent = defaultAgent()
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.key),
		libp2p.Transport(tcp.NewTCPTransport),
		// QUIC v1 too: it only listens when a /quic-v1 listen address is given
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.UserAgent(agent),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		// we register the ping service ourselves (we need its handler only)
		libp2p.Ping(false),
		// the default resource manager limits streams per peer/protocol and
		// memory; tests open many concurrent streams and big perf transfers
		libp2p.ResourceManager(&network.NullResourceManager{}),
		// the default connection manager trims above 192 connections; tests
		// decide themselves when connections end
		libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
	}
	switch cfg.security {
	case "tls":
		opts = append(opts, libp2p.Security(libp2ptls.ID, libp2ptls.New))
	default:
		opts = append(opts, libp2p.Security(noise.ID, noise.New))
	}
	for _, m := range cfg.muxers {
		switch m {
		case "yamux":
			opts = append(opts, libp2p.Muxer(yamux.ID, yamux.DefaultTransport))
		case "mplex":
			// go-libp2p dropped mplex from its defaults; it is a separate module now
			opts = append(opts, libp2p.Muxer(mplex.ID, mplex.DefaultTransport))
		}
	}
	if len(cfg.listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(cfg.listen...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, err
	}
	ping.NewPingService(h)
	return h, nil
}

func closeHost(h host.Host) {
	done := make(chan struct{})
	go func() { h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		logf("host.Close() did not finish within %s", stopTimeout)
	}
}

func p2pAddrs(h host.Host) []string {
	suffix := "/p2p/" + h.ID().String()
	out := []string{}
	for _, a := range h.Addrs() {
		out = append(out, a.String()+suffix)
	}
	return out
}

func hostProtocols(h host.Host) []string {
	ps := []string{}
	for _, p := range h.Mux().Protocols() {
		ps = append(ps, string(p))
	}
	slices.Sort(ps)
	return ps
}

func addrStrings(addrs []ma.Multiaddr) []string {
	out := []string{}
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

func protoStrings(ps []protocol.ID) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, string(p))
	}
	return out
}

func connJSON(c network.Conn) obj {
	st := c.ConnState()
	dir := "outbound"
	if c.Stat().Direction == network.DirInbound {
		dir = "inbound"
	}
	return obj{
		{"id", c.ID()},
		{"peer", c.RemotePeer().String()},
		{"remote_addr", c.RemoteMultiaddr().String()},
		{"direction", dir},
		{"muxer", nullIfEmpty(string(st.StreamMultiplexer))},
		{"encryption", nullIfEmpty(string(st.Security))},
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// recordJSON is {"seq", "addrs"} of a verified signed peer record, or nil.
func recordJSON(env *record.Envelope) any {
	if env == nil {
		return nil
	}
	r, err := env.Record()
	if err != nil {
		return nil
	}
	rec, ok := r.(*peer.PeerRecord)
	if !ok {
		return nil
	}
	return obj{{"seq", strconv.FormatUint(rec.Seq, 10)}, {"addrs", addrStrings(rec.Addrs)}}
}

// peerStoreInfo reports what go-libp2p stored about p. go-libp2p (>= 0.3x)
// no longer puts a remote peer's signed record into the certified address
// book: identify verifies it and then uses only its addresses. So `certified`
// and `has_peer_record` come from identify's decision (accepted = the record
// identify handed out), which is passed in as `accepted`.
func peerStoreInfo(h host.Host, p peer.ID, accepted *record.Envelope) obj {
	ps := h.Peerstore()
	certified := map[string]bool{}
	if accepted != nil {
		if r, err := accepted.Record(); err == nil {
			if rec, ok := r.(*peer.PeerRecord); ok {
				for _, a := range rec.Addrs {
					certified[a.String()] = true
				}
			}
		}
	}
	hasRecord := accepted != nil
	if cab, ok := peerstore.GetCertifiedAddrBook(ps); ok && cab.GetPeerRecord(p) != nil {
		hasRecord = true
	}
	addrs := []obj{}
	for _, a := range ps.Addrs(p) {
		addrs = append(addrs, obj{{"addr", a.String()}, {"certified", certified[a.String()]}})
	}
	protos, _ := ps.GetProtocols(p)
	protoList := protoStrings(protos)
	slices.Sort(protoList)
	md := func(k string) any {
		v, err := ps.Get(p, k)
		if err != nil {
			return nil
		}
		return v
	}
	return obj{
		{"addresses", addrs},
		{"protocols", protoList},
		{"agent", md("AgentVersion")},
		{"protocol_version", md("ProtocolVersion")},
		{"has_public_key", ps.PubKey(p) != nil},
		{"has_peer_record", hasRecord},
	}
}

// ---------------------------------------------------------------- identify

type identifyResult struct {
	json     obj
	envelope *record.Envelope
}

func identifyJSON(h host.Host, ev event.EvtPeerIdentificationCompleted) obj {
	var observed any
	if ev.ObservedAddr != nil {
		observed = ev.ObservedAddr.String()
	}
	return obj{
		{"peer", ev.Peer.String()},
		// go-libp2p cannot tell an absent field from an empty one: report the string
		{"agent", ev.AgentVersion},
		{"protocol_version", ev.ProtocolVersion},
		{"protocols", protoStrings(ev.Protocols)},
		{"listen_addrs", addrStrings(ev.ListenAddrs)},
		{"observed_addr", observed},
		{"has_public_key", h.Peerstore().PubKey(ev.Peer) != nil},
		// go-libp2p sets SignedPeerRecord only when the envelope verified and
		// its record matched the peer (identify's consumeSignedPeerRecord)
		{"signed_peer_record", recordJSON(ev.SignedPeerRecord)},
	}
}

// identifyWatcher follows go-libp2p's identify events: the first completed
// identification of a connection is our own request ("identify"), later ones
// on the same connection are identify/push messages ("identify_push").
type identifyWatcher struct {
	h       host.Host
	mu      sync.Mutex
	first   map[string]*identifyResult // conn id -> first identify
	waiters map[string][]chan *identifyResult
	failed  map[peer.ID]error
}

// watchIdentify subscribes to the identify events; onResult(kind, json) is
// called for every one ("identify", "identify_push", "identify_error").
func watchIdentify(h host.Host, onResult func(kind string, j obj)) (*identifyWatcher, error) {
	w := &identifyWatcher{h: h, first: map[string]*identifyResult{}, waiters: map[string][]chan *identifyResult{},
		failed: map[peer.ID]error{}}
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted),
		new(event.EvtPeerIdentificationFailed)}, eventbus.BufSize(256))
	if err != nil {
		return nil, err
	}
	go func() {
		for e := range sub.Out() {
			switch ev := e.(type) {
			case event.EvtPeerIdentificationCompleted:
				j := identifyJSON(h, ev)
				id := ev.Conn.ID()
				w.mu.Lock()
				_, seen := w.first[id]
				var waiters []chan *identifyResult
				if !seen {
					j = j.with("peer_store", peerStoreInfo(h, ev.Peer, ev.SignedPeerRecord))
					res := &identifyResult{json: j, envelope: ev.SignedPeerRecord}
					w.first[id] = res
					waiters = w.waiters[id]
					delete(w.waiters, id)
					for _, c := range waiters {
						c <- res
					}
				}
				w.mu.Unlock()
				if seen {
					onResult("identify_push", j)
				} else {
					onResult("identify", j)
				}
			case event.EvtPeerIdentificationFailed:
				w.mu.Lock()
				w.failed[ev.Peer] = ev.Reason
				w.mu.Unlock()
				onResult("identify_error", obj{{"peer", ev.Peer.String()}, {"error", errText(ev.Reason)}})
			}
		}
	}()
	return w, nil
}

// wait returns the first identify result of conn c (go-libp2p identifies every
// new connection by itself, both directions).
func (w *identifyWatcher) wait(ctx context.Context, c network.Conn) (*identifyResult, error) {
	ch := make(chan *identifyResult, 1)
	w.mu.Lock()
	if r, ok := w.first[c.ID()]; ok {
		w.mu.Unlock()
		return r, nil
	}
	w.waiters[c.ID()] = append(w.waiters[c.ID()], ch)
	w.mu.Unlock()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-ch:
			return r, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("identify: %w", ctx.Err())
		case <-tick.C:
			w.mu.Lock()
			err := w.failed[c.RemotePeer()]
			w.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("identify failed: %w", err)
			}
			if c.IsClosed() {
				return nil, errors.New("identify: connection closed")
			}
		}
	}
}

// ---------------------------------------------------------------- handlers

type streamReport func(obj)

func streamEvent(s network.Stream, bytes int64, err error, extra ...kv) obj {
	o := obj{
		{"event", "stream"},
		{"protocol", string(s.Protocol())},
		{"peer", s.Conn().RemotePeer().String()},
		{"direction", "inbound"},
		{"bytes", bytes},
		{"ok", err == nil},
	}
	o = append(o, extra...)
	if err != nil {
		o = append(o, kv{"error", errText(err)})
	}
	return o
}

// echoHandler copies every byte back until the remote half-closes, then closes.
func echoHandler(report streamReport) network.StreamHandler {
	return func(s network.Stream) {
		s.SetDeadline(time.Now().Add(handlerDeadline))
		buf := make([]byte, chunkSize)
		n, err := io.CopyBuffer(writerOnly{s}, readerOnly{s}, buf)
		if err == nil {
			err = s.CloseWrite()
		}
		if err != nil {
			logf("echo handler error: %v", err)
			s.Reset()
		} else {
			s.Close()
		}
		report(streamEvent(s, n, err))
	}
}

// hashHandler reads until EOF and answers the lowercase hex sha256 of what it read.
func hashHandler(report streamReport) network.StreamHandler {
	return func(s network.Stream) {
		s.SetDeadline(time.Now().Add(handlerDeadline))
		h := sha256.New()
		n, err := io.CopyBuffer(h, readerOnly{s}, make([]byte, chunkSize))
		digest := hex.EncodeToString(h.Sum(nil))
		if err == nil {
			_, err = s.Write([]byte(digest))
		}
		if err == nil {
			err = s.CloseWrite()
		}
		if err != nil {
			logf("hash handler error: %v", err)
			s.Reset()
			report(streamEvent(s, n, err))
			return
		}
		s.Close()
		report(streamEvent(s, n, nil, kv{"sha256", digest}))
	}
}

// readerOnly / writerOnly hide ReadFrom/WriteTo so io.Copy uses our buffer.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

func registerHandlers(h host.Host, report streamReport) {
	h.SetStreamHandler(echoProtocol, echoHandler(report))
	h.SetStreamHandler(hashProtocol, hashHandler(report))
	h.SetStreamHandler(perfProtocol, perfHandler)
}

// ------------------------------------------------------------- client ops

// pingRTTs runs n ping round trips on ONE /ipfs/ping/1.0.0 stream (as
// go-libp2p's ping client does), then half-closes and waits for the remote to
// close; returns the RTTs in milliseconds.
func pingRTTs(ctx context.Context, h host.Host, p peer.ID, n int) ([]float64, error) {
	rtts := []float64{}
	s, err := h.NewStream(ctx, p, pingProtocol)
	if err != nil {
		return rtts, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	out := make([]byte, ping.PingSize)
	in := make([]byte, ping.PingSize)
	for i := 0; i < n; i++ {
		rand.Read(out)
		start := time.Now()
		if _, err := s.Write(out); err != nil {
			s.Reset()
			return rtts, err
		}
		if _, err := io.ReadFull(s, in); err != nil {
			s.Reset()
			return rtts, err
		}
		rtts = append(rtts, float64(time.Since(start).Microseconds())/1000)
		if !bytes.Equal(in, out) {
			s.Reset()
			return rtts, errors.New("ping: wrong payload echoed")
		}
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return rtts, err
	}
	// the listener finishes its loop when it sees our EOF and closes
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if extra, err := io.Copy(io.Discard, s); err != nil || extra != 0 {
		s.Reset()
		if err == nil {
			err = fmt.Errorf("ping: %d unexpected bytes after the last pong", extra)
		}
		return rtts, fmt.Errorf("ping: waiting for the remote to close: %w", err)
	}
	s.Close()
	return rtts, nil
}

// checkedStream sends nbytes random bytes on a new stream, half-closes, reads
// the reply until EOF and checks it: echo must return the same bytes, hash
// the hex sha256 of what we sent.
func checkedStream(ctx context.Context, h host.Host, p peer.ID, proto string, nbytes int64) error {
	data := make([]byte, nbytes)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	s, err := h.NewStream(ctx, p, protocol.ID(proto))
	if err != nil {
		return fmt.Errorf("%s: new stream: %w", proto, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	werr := make(chan error, 1)
	go func() {
		for off := int64(0); off < nbytes; off += chunkSize {
			end := min(off+chunkSize, nbytes)
			if _, err := s.Write(data[off:end]); err != nil {
				werr <- err
				return
			}
		}
		werr <- s.CloseWrite()
	}()
	body, rerr := io.ReadAll(s)
	if err := <-werr; err != nil {
		s.Reset()
		return fmt.Errorf("%s: write: %w", proto, err)
	}
	if rerr != nil {
		s.Reset()
		return fmt.Errorf("%s: read: %w", proto, rerr)
	}
	s.Close()
	if proto == hashProtocol {
		got := strings.ToLower(strings.TrimSpace(string(body)))
		if got != want {
			return fmt.Errorf("hash mismatch: sent sha256 %s, remote said %s", want, got)
		}
		return nil
	}
	gotSum := sha256.Sum256(body)
	if int64(len(body)) != nbytes || !bytes.Equal(gotSum[:], sum[:]) {
		return fmt.Errorf("echo mismatch: sent %d bytes (sha256 %s), got %d bytes (sha256 %s)",
			nbytes, want, len(body), hex.EncodeToString(gotSum[:]))
	}
	return nil
}

// firstConn returns an open connection to p, or nil.
func firstConn(h host.Host, p peer.ID) network.Conn {
	for _, c := range h.Network().ConnsToPeer(p) {
		if !c.IsClosed() {
			return c
		}
	}
	return nil
}
