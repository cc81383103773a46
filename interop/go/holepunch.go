package main

// The libp2p/test-plans hole-punch-interop contract (mode hole-punch), configured by
// environment variables:
//
//	MODE       relay | listen | dial
//	TRANSPORT  tcp (the only one here)
//	REDIS_ADDR host:port of the orchestrating redis (default redis:6379)
//	RELAY_LISTEN_IP  the relay's listen IP (relay; default 0.0.0.0)
//	RELAY_UNLIMITED  "true": circuits without go's default duration/data limits (relay; benchmarks)
//
// The relay (hop service, identify, ping, AutoNAT v1 and v2 servers) pushes its address twice
// to the redis list RELAY_TCP_ADDRESS (one pop per client). A client pops it and connects to
// the relay from its listen port (identify there tells it its NAT mapping). The listener
// reserves a slot and pushes its peer ID to LISTEN_CLIENT_PEER_ID, then serves until killed;
// the dialer pops the ID, dials <relay>/p2p-circuit/p2p/<id>, waits for DCUtR's direct
// connection, pings over it and prints one JSON line:
//
//	{"rtt_to_holepunched_peer_millis": N, "relayed_to_direct_millis": M, "direct_addr": "..."}

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/redis/go-redis/v9"
)

const (
	holePunchTimeout  = 90 * time.Second
	relayAddrKey      = "RELAY_TCP_ADDRESS"
	listenerPeerIDKey = "LISTEN_CLIENT_PEER_ID"
	holePunchPings    = 3
)

func envOr(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

func runHolePunch() int {
	mode := os.Getenv("MODE")
	if t := envOr("TRANSPORT", "tcp"); t != "tcp" {
		logf("hole-punch: TRANSPORT %q is not supported (tcp only)", t)
		return 2
	}
	rdb := redis.NewClient(&redis.Options{Addr: envOr("REDIS_ADDR", "redis:6379"), ReadTimeout: -1})
	defer rdb.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	var err error
	switch mode {
	case "relay":
		err = holePunchRelay(ctx, rdb)
	case "listen", "dial":
		ctx, cancelT := context.WithTimeout(ctx, holePunchTimeout)
		defer cancelT()
		err = holePunchClient(ctx, rdb, mode == "dial")
	default:
		logf("hole-punch: MODE must be relay, listen or dial, not %q", mode)
		return 2
	}
	if err != nil {
		logf("hole-punch %s: %v", mode, err)
		return 1
	}
	return 0
}

func holePunchRelay(ctx context.Context, rdb *redis.Client) error {
	listenIP := envOr("RELAY_LISTEN_IP", "0.0.0.0")
	listen := fmt.Sprintf("/ip4/%s/tcp/0", listenIP)
	h, err := libp2p.New(
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ListenAddrStrings(listen),
		libp2p.ForceReachabilityPublic(),
		libp2p.EnableNATService(),
		libp2p.EnableAutoNATv2(),
		libp2p.DisableRelay(), // the relay itself does not dial through relays
	)
	if err != nil {
		return err
	}
	defer closeHost(h)
	var opts []relayv2.Option
	if os.Getenv("RELAY_UNLIMITED") == "true" {
		opts = append(opts, relayv2.WithInfiniteLimits())
	}
	svc, err := relayv2.New(h, opts...)
	if err != nil {
		return err
	}
	defer svc.Close()
	// the address on RELAY_LISTEN_IP, or (listening on 0.0.0.0) the first non-loopback one
	var addr ma.Multiaddr
	for _, a := range h.Addrs() {
		if ip, err := manet.ToIP(a); err == nil && (ip.String() == listenIP || listenIP == "0.0.0.0" && !ip.IsLoopback()) {
			addr = a
			break
		}
	}
	if addr == nil {
		return fmt.Errorf("no listen address to publish among %v", h.Addrs())
	}
	full := addr.Encapsulate(ma.StringCast("/p2p/" + h.ID().String())).String()
	logf("relay %s", full)
	if err := rdb.RPush(ctx, relayAddrKey, full, full).Err(); err != nil {
		return fmt.Errorf("publishing the relay address: %w", err)
	}
	emit(obj{{"peer_id", h.ID().String()}, {"multiaddrs", []string{full}}})
	<-ctx.Done()
	return nil
}

// holePunchTracer tells the dialer when DCUtR ended (go reports hole punch outcomes only here).
type holePunchTracer struct {
	ended chan *holepunch.EndHolePunchEvt
}

func (t *holePunchTracer) Trace(evt *holepunch.Event) {
	logf("holepunch %s: %+v", evt.Type, evt.Evt)
	if e, ok := evt.Evt.(*holepunch.EndHolePunchEvt); ok {
		select {
		case t.ended <- e:
		default:
		}
	}
}

func holePunchClient(ctx context.Context, rdb *redis.Client, dialer bool) error {
	relayStr, err := rdb.BLPop(ctx, 0, relayAddrKey).Result()
	if err != nil {
		return fmt.Errorf("waiting for the relay address: %w", err)
	}
	relayAddr, err := ma.NewMultiaddr(relayStr[1])
	if err != nil {
		return err
	}
	relayInfo, err := peer.AddrInfoFromP2pAddr(relayAddr)
	if err != nil {
		return err
	}
	tracer := &holePunchTracer{ended: make(chan *holepunch.EndHolePunchEvt, 4)}
	h, err := libp2p.New(
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(holepunch.WithTracer(tracer)),
		// behind the NAT the harness built: private, as test-plans' clients say
		libp2p.ForceReachabilityPrivate(),
	)
	if err != nil {
		return err
	}
	defer closeHost(h)
	logf("peer id %s, listening on %v", h.ID(), h.Addrs())
	if err := connectRelay(ctx, h, *relayInfo); err != nil {
		return err
	}
	// go starts DCUtR only once identify gave it a public (observed) address
	if err := waitHolePunchReady(ctx, h); err != nil {
		return err
	}
	if !dialer {
		rsvp, err := client.Reserve(ctx, h, *relayInfo)
		if err != nil {
			return fmt.Errorf("reserving on the relay: %w", err)
		}
		logf("reservation until %s", rsvp.Expiration.Format(time.RFC3339))
		if err := rdb.RPush(ctx, listenerPeerIDKey, h.ID().String()).Err(); err != nil {
			return fmt.Errorf("publishing our peer id: %w", err)
		}
		emit(obj{{"peer_id", h.ID().String()}, {"relayed_addrs", []string{
			relayAddr.Encapsulate(ma.StringCast("/p2p-circuit/p2p/" + h.ID().String())).String()}}})
		<-ctx.Done() // the runner stops the listener (or its time runs out)
		return nil
	}
	idStr, err := rdb.BLPop(ctx, 0, listenerPeerIDKey).Result()
	if err != nil {
		return fmt.Errorf("waiting for the listener's peer id: %w", err)
	}
	target, err := peer.Decode(idStr[1])
	if err != nil {
		return err
	}
	circuit := relayAddr.Encapsulate(ma.StringCast("/p2p-circuit"))
	// the moment the direct connection opens, from the network's own notification
	directAt := make(chan time.Time, 1)
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil && c.RemotePeer() == target {
			select {
			case directAt <- time.Now():
			default:
			}
		}
	}})
	if err := h.Connect(ctx, peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		return fmt.Errorf("dialling through the relay: %w", err)
	}
	relayedAt := time.Now()
	logf("relayed connection to %s", target)
	var at time.Time
	for at.IsZero() {
		select {
		case <-ctx.Done():
			return errors.New("no direct connection in time")
		case e := <-tracer.ended:
			if !e.Success {
				logf("hole punch attempt failed: %s", e.Error)
			}
		case at = <-directAt:
		}
	}
	direct := directConnTo(h, target)
	if direct == nil {
		return errors.New("the direct connection closed at once")
	}
	upgradeMs := float64(at.Sub(relayedAt).Microseconds()) / 1000
	rtt, err := echoPing(ctx, h, target)
	if err != nil {
		return err
	}
	emit(obj{
		{"rtt_to_holepunched_peer_millis", rtt},
		{"relayed_to_direct_millis", upgradeMs},
		{"direct_addr", direct.RemoteMultiaddr().String()},
	})
	return nil
}

func connectRelay(ctx context.Context, h host.Host, relay peer.AddrInfo) error {
	for attempt := 1; ; attempt++ {
		err := h.Connect(ctx, relay)
		if err == nil {
			return nil
		}
		logf("connecting to the relay (attempt %d): %v", attempt, err)
		if sw, ok := h.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(relay.ID)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connecting to the relay: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func waitHolePunchReady(ctx context.Context, h host.Host) error {
	for {
		for _, p := range h.Mux().Protocols() {
			if p == holepunch.Protocol {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the hole punch service did not start (no public observed address)")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func directConnTo(h host.Host, p peer.ID) network.Conn {
	for _, c := range h.Network().ConnsToPeer(p) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
			return c
		}
	}
	return nil
}

// echoPing: the smallest of a few /ipfs/ping/1.0.0 round trips, on a stream that must not be relayed.
func echoPing(ctx context.Context, h host.Host, p peer.ID) (float64, error) {
	s, err := h.NewStream(ctx, p, ping.ID)
	if err != nil {
		return 0, fmt.Errorf("opening a ping stream: %w", err)
	}
	defer s.Close()
	if _, err := s.Conn().RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return 0, errors.New("the ping stream is still relayed")
	}
	best := -1.0
	sent, got := make([]byte, 32), make([]byte, 32)
	for i := 0; i < holePunchPings; i++ {
		if _, err := rand.Read(sent); err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := s.Write(sent); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(s, got); err != nil {
			return 0, err
		}
		ms := float64(time.Since(start).Microseconds()) / 1000
		if !bytes.Equal(sent, got) {
			return 0, errors.New("ping reply differs")
		}
		if best < 0 || ms < best {
			best = ms
		}
	}
	return best, nil
}
