package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// The test-plans perf server's fixed identity: the Ed25519 key of the all-zero seed.
const perfServerPeerID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"

var zeros = make([]byte, chunkSize)

// perfHandler is the /perf/1.0.0 server (libp2p/specs perf/perf.md): read the
// u64 big-endian download size, drain the upload until the remote
// half-closes, then send that many bytes and close.
func perfHandler(s network.Stream) {
	s.SetDeadline(time.Now().Add(handlerDeadline))
	var hdr [8]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		logf("perf handler: reading the header: %v", err)
		s.Reset()
		return
	}
	if _, err := io.CopyBuffer(io.Discard, readerOnly{s}, make([]byte, chunkSize)); err != nil {
		logf("perf handler: draining the upload: %v", err)
		s.Reset()
		return
	}
	if err := sendZeros(s, binary.BigEndian.Uint64(hdr[:]), nil); err != nil {
		logf("perf handler: sending: %v", err)
		s.Reset()
		return
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

func sendZeros(w io.Writer, n uint64, counter *atomic.Int64) error {
	for n > 0 {
		chunk := zeros
		if n < uint64(len(chunk)) {
			chunk = chunk[:n]
		}
		k, err := w.Write(chunk)
		if counter != nil {
			counter.Add(int64(k))
		}
		if err != nil {
			return err
		}
		n -= uint64(k)
	}
	return nil
}

type countingWriter struct{ c *atomic.Int64 }

func (w countingWriter) Write(b []byte) (int, error) { w.c.Add(int64(len(b))); return len(b), nil }

// perfOnce runs one perf exchange on a new stream; returns the seconds it took.
func perfOnce(ctx context.Context, h host.Host, p peer.ID, upload, download uint64, up, down *atomic.Int64) (float64, error) {
	start := time.Now()
	s, err := h.NewStream(ctx, p, perfProtocol)
	if err != nil {
		return 0, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if up == nil {
		up = new(atomic.Int64)
	}
	if down == nil {
		down = new(atomic.Int64)
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], download)
	if _, err := s.Write(hdr[:]); err != nil {
		s.Reset()
		return 0, err
	}
	before := down.Load()
	werr := make(chan error, 1)
	go func() {
		if err := sendZeros(s, upload, up); err != nil {
			werr <- err
			return
		}
		werr <- s.CloseWrite()
	}()
	_, rerr := io.CopyBuffer(countingWriter{down}, readerOnly{s}, make([]byte, chunkSize))
	if err := <-werr; err != nil {
		s.Reset()
		return 0, fmt.Errorf("perf upload: %w", err)
	}
	if rerr != nil {
		s.Reset()
		return 0, fmt.Errorf("perf download: %w", rerr)
	}
	s.Close()
	if got := uint64(down.Load() - before); got != download {
		return 0, fmt.Errorf("perf: expected %d bytes, received %d", download, got)
	}
	return time.Since(start).Seconds(), nil
}

func runPerf(o *options) int {
	switch {
	case o.runServer:
		return runPerfServer(o)
	case o.serverAddress != "":
		return runPerfClient(o)
	case o.to != "":
		return runPerfBench(o)
	}
	usage("perf needs --run-server --server-address, --server-address or --to")
	return 2
}

// perfMultiaddr is the perf contract's address for --transport tcp, ws or quic-v1.
func perfMultiaddr(hostPort, transport string) string {
	switch transport {
	case "tcp", "ws":
		return tcpMultiaddr(hostPort) + wsSuffix(transport)
	case "quic-v1":
		tcpAddr := tcpMultiaddr(hostPort)
		i := strings.LastIndex(tcpAddr, "/tcp/")
		return tcpAddr[:i] + "/udp/" + tcpAddr[i+len("/tcp/"):] + "/quic-v1"
	}
	usage("--transport: tcp, ws or quic-v1, not %q", transport)
	return ""
}

// tcpMultiaddr turns IP:PORT into /ip4|ip6/IP/tcp/PORT.
func tcpMultiaddr(hostPort string) string {
	hst, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		usage("--server-address must be IP:PORT: %v", err)
	}
	ip := net.ParseIP(hst)
	if ip == nil {
		usage("--server-address must be IP:PORT (an IP address, not %q)", hst)
	}
	if ip.To4() != nil {
		return fmt.Sprintf("/ip4/%s/tcp/%s", hst, port)
	}
	return fmt.Sprintf("/ip6/%s/tcp/%s", hst, port)
}

func runPerfServer(o *options) int {
	if o.serverAddress == "" {
		usage("--run-server needs --server-address IP:PORT")
	}
	key, err := ed25519FromSeed(make([]byte, 32))
	if err != nil {
		logf("key: %v", err)
		return 1
	}
	muxers := []string{"yamux", "mplex"}
	if o.muxer == "mplex" {
		muxers = []string{"mplex", "yamux"}
	}
	h, err := newHost(nodeConfig{key: key, listen: []string{perfMultiaddr(o.serverAddress, o.transport)}, muxers: muxers,
		security: o.security, agent: o.agent})
	if err != nil {
		logf("cannot start: %v", err)
		return 1
	}
	registerHandlers(h, func(obj) {})
	// runs until a signal (the test-plans runner starts it with no stdin); registered
	// before the ready line, since a harness may signal as soon as it has read it
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	emit(obj{
		{"peer_id", h.ID().String()},
		{"multiaddrs", p2pAddrs(h)},
		{"agent", defaultAgent()},
		{"protocols", hostProtocols(h)},
	})
	logf("perf server %s on %s", h.ID(), strings.Join(p2pAddrs(h), " "))
	logf("shutting down (%s)", <-sigs)
	hard := time.AfterFunc(stopTimeout+time.Second, func() { os.Exit(0) })
	defer hard.Stop()
	closeHost(h)
	return 0
}

// runPerfClient is the test-plans perf client: connect, one perf exchange,
// progress lines every second and a final line (times include the connection).
func runPerfClient(o *options) int {
	target := perfMultiaddr(o.serverAddress, o.transport) + "/p2p/" + perfServerPeerID
	info := parseTarget(target)
	key, _ := loadKey("ed25519", "")
	h, err := newHost(nodeConfig{key: key, muxers: []string{o.muxer}, security: o.security, agent: o.agent})
	if err != nil {
		logf("cannot start: %v", err)
		return 1
	}
	defer closeHost(h)
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	if o.timeoutMs < 0 {
		timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var up, down atomic.Int64
	start := time.Now()
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastUp, lastDown := start, int64(0), int64(0)
		for {
			select {
			case <-stopTicker:
				return
			case now := <-t.C:
				u, d := up.Load(), down.Load()
				emit(obj{{"type", "intermediary"}, {"timeSeconds", now.Sub(last).Seconds()},
					{"uploadBytes", u - lastUp}, {"downloadBytes", d - lastDown}})
				last, lastUp, lastDown = now, u, d
			}
		}
	}()
	err = h.Connect(ctx, info)
	if err == nil {
		_, err = perfOnce(ctx, h, info.ID, uint64(o.uploadBytes), uint64(o.downloadBytes), &up, &down)
	}
	elapsed := time.Since(start).Seconds()
	close(stopTicker)
	<-tickerDone
	if err != nil {
		logf("perf failed: %v", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return 3
		}
		return 1
	}
	emit(obj{{"type", "final"}, {"timeSeconds", elapsed}, {"uploadBytes", o.uploadBytes},
		{"downloadBytes", o.downloadBytes}})
	return 0
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func rusageJSON() obj {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// the field names and units of node's process.resourceUsage()
	return obj{
		{"userCPUTime", ru.Utime.Nano() / 1000},
		{"systemCPUTime", ru.Stime.Nano() / 1000},
		{"maxRSS", ru.Maxrss},
		{"voluntaryContextSwitches", ru.Nvcsw},
		{"involuntaryContextSwitches", ru.Nivcsw},
	}
}

// runPerfBench is peer.mjs's `perf --to` (benchmarks/e2e/bench_stack.py): on
// one connection `iterations` uploads, `iterations` downloads, `pings` round
// trips on one stream; then `dials` timed new connections + first ping.
func runPerfBench(o *options) int {
	info := parseTarget(o.to)
	pings := max(o.pings, 0)
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	if o.timeoutMs < 0 {
		timeout = 600 * time.Second
	}
	result := obj{
		{"implementation", "go-libp2p"}, {"muxer", nil},
		{"upload_bytes", o.uploadBytes}, {"download_bytes", o.downloadBytes},
		{"upload_seconds", []float64{}}, {"download_seconds", []float64{}},
		{"upload_cpu_seconds", []float64{}}, {"download_cpu_seconds", []float64{}},
		{"ping_rtts", []float64{}}, {"dial_seconds", []float64{}}, {"dial_ping_seconds", []float64{}},
		{"errors", []string{}},
	}
	key, _ := loadKey("ed25519", "")
	h, err := newHost(nodeConfig{key: key, muxers: []string{o.muxer}, security: o.security, agent: o.agent})
	if err != nil {
		logf("cannot start: %v", err)
		return 1
	}
	h.SetStreamHandler(perfProtocol, perfHandler)
	h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	run := func() error {
		c, err := h.Network().DialPeer(ctx, info.ID)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		result = result.with("muxer", string(c.ConnState().StreamMultiplexer))
		up, down := uint64(o.uploadBytes), uint64(o.downloadBytes)
		if up > 0 || down > 0 { // warm-up
			if _, err := perfOnce(ctx, h, info.ID, min(up, 1<<24), min(down, 1<<24), nil, nil); err != nil {
				return err
			}
		}
		for _, dir := range []struct {
			name     string
			up, down uint64
		}{{"upload", up, 0}, {"download", 0, down}} {
			if dir.up == 0 && dir.down == 0 {
				continue
			}
			secs, cpus := []float64{}, []float64{}
			for i := int64(0); i < o.iterations; i++ {
				c0 := cpuSeconds()
				t, err := perfOnce(ctx, h, info.ID, dir.up, dir.down, nil, nil)
				if err != nil {
					return err
				}
				secs = append(secs, t)
				cpus = append(cpus, cpuSeconds()-c0)
			}
			result = result.with(dir.name+"_seconds", secs).with(dir.name+"_cpu_seconds", cpus)
		}
		if pings > 0 {
			if _, err := pingRTTs(ctx, h, info.ID, int(min(pings, 10))); err != nil { // warm-up
				return err
			}
			rtts, err := pingRTTs(ctx, h, info.ID, int(pings))
			if err != nil {
				return err
			}
			secs := make([]float64, len(rtts))
			for i, ms := range rtts {
				secs[i] = math.Round(ms*1000) / 1e6 // ms with µs resolution -> s
			}
			result = result.with("ping_rtts", secs)
		}
		h.Network().ClosePeer(info.ID)
		dialS, dialPingS := []float64{}, []float64{}
		for i := int64(0); i <= o.dials; i++ {
			t0 := time.Now()
			if _, err := h.Network().DialPeer(ctx, info.ID); err != nil {
				return fmt.Errorf("dial: %w", err)
			}
			t1 := time.Now()
			if _, err := pingRTTs(ctx, h, info.ID, 1); err != nil {
				return err
			}
			t2 := time.Now()
			if i > 0 { // the first one is a warm-up
				dialS = append(dialS, t1.Sub(t0).Seconds())
				dialPingS = append(dialPingS, t2.Sub(t0).Seconds())
			}
			h.Network().ClosePeer(info.ID)
		}
		result = result.with("dial_seconds", dialS).with("dial_ping_seconds", dialPingS)
		return nil
	}
	code := 0
	if err := run(); err != nil {
		logf("perf failed: %v", err)
		result = result.with("errors", []string{errText(err)})
		code = 1
		if ctx.Err() != nil {
			code = 3
		}
	}
	result = result.with("rusage", rusageJSON())
	emit(result)
	closeHost(h)
	return code
}
