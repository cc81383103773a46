package main

// `peer bench`: the client side of benchmarks/suites/latency.py and streams.py. It dials a
// server with the perf contract's handlers (/echo/1.0.0, /perf/1.0.0, ping) and prints one JSON
// line with raw samples in seconds:
//
//	--pings N        ping RTTs on one stream (after 10 warm-up round trips)
//	--echo-rtts N    1-byte write + 1-byte read round trips on one warm /echo/1.0.0 stream
//	--streams K --stream-bytes N [--conns C]
//	                 C connections (one host each) × K concurrent /perf/1.0.0 streams, each
//	                 downloading N bytes; the wall time of the whole batch (after a warm-up batch)
//	--open-close N [--workers W]
//	                 N streams, W at a time, each: open /echo/1.0.0, 1 byte there and back, close
//
// Timings use time.Now (monotonic); every operation runs under --timeout-ms.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

type benchOptions struct {
	to          string
	pings       int
	echoRTTs    int
	streams     int
	streamBytes int64
	conns       int
	openClose   int
	workers     int
	timeoutMs   int64
}

func runBench(args []string) int {
	o := benchOptions{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.to, "to", "", "server multiaddr ending in /p2p/<peer id>")
	fs.IntVar(&o.pings, "pings", 0, "ping round trips on one stream")
	fs.IntVar(&o.echoRTTs, "echo-rtts", 0, "1-byte echo round trips on one stream")
	fs.IntVar(&o.streams, "streams", 0, "concurrent perf download streams per connection")
	fs.Int64Var(&o.streamBytes, "stream-bytes", 1<<20, "bytes each stream downloads")
	fs.IntVar(&o.conns, "conns", 1, "connections for --streams (one host each)")
	fs.IntVar(&o.openClose, "open-close", 0, "streams opened, used for 1 byte each way, and closed")
	fs.IntVar(&o.workers, "workers", 1, "concurrent openers for --open-close")
	fs.Int64Var(&o.timeoutMs, "timeout-ms", 600000, "overall time limit")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || o.conns < 1 || o.workers < 1 {
		usage("bench: bad arguments %v", args)
	}
	info := parseTarget(o.to)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.timeoutMs)*time.Millisecond)
	defer cancel()
	result := obj{{"implementation", "go-libp2p"}, {"version", defaultAgent()}}
	fail := func(err error) int {
		emit(result.with("errors", []string{errText(err)}))
		return 1
	}
	nHosts := 1
	if o.streams > 0 {
		nHosts = o.conns
	}
	hosts := make([]host.Host, nHosts)
	defer func() {
		for _, h := range hosts {
			if h != nil {
				closeHost(h)
			}
		}
	}()
	for i := range hosts {
		key, _ := loadKey("ed25519", "")
		h, err := newHost(nodeConfig{key: key, muxers: []string{"yamux"}, security: "noise"})
		if err != nil {
			return fail(err)
		}
		hosts[i] = h
		h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
		if _, err := h.Network().DialPeer(ctx, info.ID); err != nil {
			return fail(fmt.Errorf("dial: %w", err))
		}
	}
	h := hosts[0]
	if o.pings > 0 {
		if _, err := pingRTTs(ctx, h, info.ID, 10); err != nil {
			return fail(err)
		}
		c0 := cpuSeconds()
		ms, err := pingRTTs(ctx, h, info.ID, o.pings)
		result = result.with("ping_cpu_seconds", cpuSeconds()-c0)
		if err != nil {
			return fail(err)
		}
		secs := make([]float64, len(ms))
		for i, m := range ms {
			secs[i] = m / 1000
		}
		result = result.with("ping_rtts", secs)
	}
	if o.echoRTTs > 0 {
		c0 := cpuSeconds()
		rtts, err := echoRTTs(ctx, h, info.ID, o.echoRTTs)
		if err != nil {
			return fail(err)
		}
		result = result.with("echo_rtts", rtts).with("echo_cpu_seconds", cpuSeconds()-c0)
	}
	if o.streams > 0 {
		batch := func() (float64, error) {
			start := time.Now()
			var wg sync.WaitGroup
			var firstErr atomic.Value
			for _, hh := range hosts {
				for k := 0; k < o.streams; k++ {
					wg.Add(1)
					go func(hh host.Host) {
						defer wg.Done()
						if _, err := perfOnce(ctx, hh, info.ID, 0, uint64(o.streamBytes), nil, nil); err != nil {
							firstErr.CompareAndSwap(nil, err)
						}
					}(hh)
				}
			}
			wg.Wait()
			if e, ok := firstErr.Load().(error); ok {
				return 0, e
			}
			return time.Since(start).Seconds(), nil
		}
		if _, err := batch(); err != nil { // warm-up: windows grown, goroutines and buffers made
			return fail(err)
		}
		secs, err := batch()
		if err != nil {
			return fail(err)
		}
		result = result.with("streams_seconds", secs).with("streams_bytes", int64(nHosts*o.streams)*o.streamBytes)
	}
	if o.openClose > 0 {
		one := func() error {
			s, err := h.NewStream(ctx, info.ID, echoProtocol)
			if err != nil {
				return err
			}
			if _, err := s.Write([]byte{1}); err != nil {
				s.Reset()
				return err
			}
			var b [1]byte
			if _, err := io.ReadFull(s, b[:]); err != nil {
				s.Reset()
				return err
			}
			return s.Close()
		}
		for i := 0; i < 10; i++ { // warm-up
			if err := one(); err != nil {
				return fail(err)
			}
		}
		var next atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < o.workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(o.openClose) {
					if err := one(); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if e, ok := firstErr.Load().(error); ok {
			return fail(e)
		}
		result = result.with("open_close_seconds", time.Since(start).Seconds()).with("open_close_count", o.openClose)
	}
	emit(result.with("errors", []string{}))
	return 0
}

// echoRTTs: n round trips of one byte on one warm /echo/1.0.0 stream (10 more before, untimed).
func echoRTTs(ctx context.Context, h host.Host, p peer.ID, n int) ([]float64, error) {
	s, err := h.NewStream(ctx, p, echoProtocol)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	out := []byte{0x2a}
	var in [1]byte
	rtts := make([]float64, 0, n)
	for i := -10; i < n; i++ {
		start := time.Now()
		if _, err := s.Write(out); err != nil {
			s.Reset()
			return rtts, err
		}
		if _, err := io.ReadFull(s, in[:]); err != nil {
			s.Reset()
			return rtts, err
		}
		if i >= 0 {
			rtts = append(rtts, time.Since(start).Seconds())
		}
	}
	return rtts, s.Close()
}
