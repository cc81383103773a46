package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

const dialTimeout = 15 * time.Second

// parseTarget parses --to: a multiaddr ending in /p2p/<peer id>.
func parseTarget(to string) peer.AddrInfo {
	if to == "" {
		usage("--to MULTIADDR is required")
	}
	addr, err := ma.NewMultiaddr(to)
	if err != nil {
		usage("bad --to multiaddr: %v", err)
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		usage("--to must end in /p2p/<peer id> (go-libp2p dials peers, not addresses): %v", err)
	}
	return *info
}

// dialResult is the dialer's result JSON, shared with the timeout and signal paths.
type dialResult struct {
	mu      sync.Mutex
	r       obj
	printed bool
}

func (d *dialResult) set(k string, v any) {
	d.mu.Lock()
	d.r = d.r.with(k, v)
	d.mu.Unlock()
}

func (d *dialResult) addError(format string, args ...any) {
	d.mu.Lock()
	errs, _ := d.r.get("errors").([]string)
	d.r = d.r.with("errors", append(errs, fmt.Sprintf(format, args...)))
	d.mu.Unlock()
}

func (d *dialResult) appendTo(k string, v obj) {
	d.mu.Lock()
	l, _ := d.r.get(k).([]obj)
	d.r = d.r.with(k, append(l, v))
	d.mu.Unlock()
}

func (d *dialResult) nErrors() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	errs, _ := d.r.get("errors").([]string)
	return len(errs)
}

// finish prints the result once, stops the host and exits with code.
func (d *dialResult) finish(h host.Host, code int) {
	d.mu.Lock()
	if d.printed {
		d.mu.Unlock()
		select {} // the first caller exits the process
	}
	d.printed = true
	emit(d.r)
	d.mu.Unlock()
	hard := time.AfterFunc(stopTimeout+time.Second, func() { os.Exit(code) })
	defer hard.Stop()
	if h != nil {
		closeHost(h)
	}
	os.Exit(code)
}

func runDial(o *options) int {
	target := parseTarget(o.to)
	key, err := loadKey(o.keyType, o.keySeed)
	if err != nil {
		usage("%v", err)
	}
	pings := o.pings
	if pings < 0 {
		pings = 1
	}
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	if o.timeoutMs < 0 {
		timeout = 60 * time.Second
	}
	streamProtocol := echoProtocol
	if o.streamProtocol == "hash" {
		streamProtocol = hashProtocol
	}

	d := &dialResult{r: obj{
		{"connected", false},
		{"remote_peer", nil},
		{"remote_addr", nil},
		{"muxer", nil},
		{"encryption", nil},
		{"remote_agent", nil},
		{"remote_protocol_version", nil},
		{"remote_protocols", []string{}},
		{"remote_listen_addrs", []string{}},
		{"observed_addr", nil},
		{"signed_peer_record", nil},
		{"peer_store", nil},
		{"identify_pushes", []obj{}},
		{"inbound_streams", []obj{}},
		{"ping_rtts_ms", []float64{}},
		{"echo_ok", nil},
		{"streams_ok", nil},
		{"local_peer", nil},
		{"errors", []string{}},
	}}

	var h host.Host
	var hostMu sync.Mutex
	getHost := func() host.Host { hostMu.Lock(); defer hostMu.Unlock(); return h }
	globalTimer := time.AfterFunc(timeout, func() {
		d.addError("timeout: run took more than %d ms", timeout.Milliseconds())
		d.finish(getHost(), 3)
	})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		d.addError("%s", map[os.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[s])
		code := 143
		if s == syscall.SIGINT {
			code = 130
		}
		d.finish(getHost(), code)
	}()

	newH, err := newHost(nodeConfig{key: key, muxers: []string{o.muxer}, security: o.security, agent: o.agent})
	if err != nil {
		d.addError("host: %v", err)
		globalTimer.Stop()
		d.finish(nil, 1)
	}
	hostMu.Lock()
	h = newH
	hostMu.Unlock()
	d.set("local_peer", h.ID().String())
	registerHandlers(h, func(j obj) { d.appendTo("inbound_streams", j[1:]) }) // drop "event"
	watcher, err := watchIdentify(h, func(kind string, j obj) {
		logf("%s: %s", kind, mustJSON(j))
		if kind == "identify_push" {
			d.appendTo("identify_pushes", j)
		}
	})
	if err != nil {
		d.addError("identify: %v", err)
		d.finish(h, 1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	err = h.Connect(ctx, target) // dials, upgrades and waits for go-libp2p's identify
	cancel()
	var conn network.Conn
	if err == nil {
		if conn = firstConn(h, target.ID); conn == nil {
			err = fmt.Errorf("connection to %s closed right after it opened", target.ID)
		}
	}
	if err != nil {
		d.addError("dial: %v", err)
		globalTimer.Stop()
		d.finish(h, 1)
	}
	st := conn.ConnState()
	d.set("connected", true)
	d.set("remote_peer", conn.RemotePeer().String())
	d.set("remote_addr", conn.RemoteMultiaddr().String()+"/p2p/"+conn.RemotePeer().String())
	d.set("muxer", nullIfEmpty(string(st.StreamMultiplexer)))
	d.set("encryption", nullIfEmpty(string(st.Security)))
	logf("connected to %s via %s + %s", conn.RemotePeer(), st.Security, st.StreamMultiplexer)

	step := func(name string, fn func() error) bool {
		if err := fn(); err != nil {
			logf("%s failed: %v", name, err)
			d.addError("%s: %v", name, err)
			return false
		}
		return true
	}
	opCtx := func(t time.Duration) (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), t)
	}

	var acceptedRecord *record.Envelope // the signed peer record identify accepted
	step("identify", func() error {
		ctx, cancel := opCtx(10 * time.Second)
		defer cancel()
		res, err := watcher.wait(ctx, conn)
		if err != nil {
			return err
		}
		j := res.json
		acceptedRecord = res.envelope
		d.set("remote_agent", j.get("agent"))
		d.set("remote_protocol_version", j.get("protocol_version"))
		d.set("remote_protocols", j.get("protocols"))
		d.set("remote_listen_addrs", j.get("listen_addrs"))
		d.set("observed_addr", j.get("observed_addr"))
		d.set("signed_peer_record", j.get("signed_peer_record"))
		return nil
	})

	if pings > 0 {
		step("ping", func() error {
			ctx, cancel := opCtx(10*time.Second + time.Duration(pings)*time.Second)
			defer cancel()
			rtts, err := pingRTTs(ctx, h, target.ID, int(pings))
			d.set("ping_rtts_ms", rtts)
			return err
		})
	}

	if o.echoBytes > 0 {
		ok := step("echo", func() error {
			ctx, cancel := opCtx(60 * time.Second)
			defer cancel()
			return checkedStream(ctx, h, target.ID, echoProtocol, o.echoBytes)
		})
		d.set("echo_ok", ok)
	}

	if o.streams > 0 {
		errs := make([]error, o.streams)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := opCtx(60 * time.Second)
				defer cancel()
				errs[i] = checkedStream(ctx, h, target.ID, streamProtocol, o.streamBytes)
			}()
		}
		wg.Wait()
		failed := 0
		for _, e := range errs {
			if e != nil {
				failed++
				if failed <= 5 {
					d.addError("streams: %v", e)
				}
			}
		}
		if failed > 5 {
			d.addError("streams: ... %d of %d streams failed", failed, o.streams)
		}
		d.set("streams_ok", failed == 0)
	}

	if o.holdMs > 0 {
		time.Sleep(time.Duration(o.holdMs) * time.Millisecond)
	}
	d.set("peer_store", peerStoreInfo(h, target.ID, acceptedRecord))
	if conn.IsClosed() {
		d.addError("connection ended early (closed)")
	}
	globalTimer.Stop()
	code := 0
	if d.nErrors() > 0 {
		code = 1
	}
	d.finish(h, code)
	return code
}
