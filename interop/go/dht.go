package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"
)

const (
	kadProtocol = "/ipfs/kad/1.0.0"
	// how long `connect` waits for a DHT server to enter the routing table:
	// go adds it asynchronously, after identify and one FIND_NODE probe
	rtJoinWait = 2 * time.Second
)

// newDHT starts go-libp2p-kad-dht (plain, not the dual DHT) on /ipfs/kad/1.0.0.
// The test network lives on 127.0.0.1, so every public-address filter is off;
// the rest (k=20, alpha=10, /pk and /ipns validators) stays go's default.
func newDHT(h host.Host, mode string, noRefresh bool) (*kaddht.IpfsDHT, error) {
	m := kaddht.ModeServer
	if mode == "client" {
		m = kaddht.ModeClient // no stream handler: answers no DHT request
	}
	opts := []kaddht.Option{
		kaddht.Mode(m),
		kaddht.ProtocolPrefix(kaddht.DefaultPrefix),
		// plain dht.New has no filters today; keep it so if the defaults move
		kaddht.QueryFilter(func(any, peer.AddrInfo) bool { return true }),
		kaddht.RoutingTableFilter(func(any, peer.ID) bool { return true }),
		kaddht.AddressFilter(nil),
		// no BootstrapPeers: fixLowPeers would dial them when the table is empty
	}
	if noRefresh {
		// no self-lookup at start, no periodic refresh, and fixLowPeers only
		// re-checks connected peers (it starts a refresh only with auto refresh)
		opts = append(opts, kaddht.DisableAutoRefresh())
	}
	return kaddht.New(h, opts...)
}

func closeDHT(d *kaddht.IpfsDHT) {
	done := make(chan struct{})
	go func() { d.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		logf("dht.Close() did not finish within %s", stopTimeout)
	}
}

func routingTablePeers(d *kaddht.IpfsDHT) []string {
	out := []string{}
	for _, p := range d.RoutingTable().ListPeers() {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// transportAddrs drops a trailing /p2p/<id> from each address.
func transportAddrs(addrs []ma.Multiaddr) []string {
	out := []string{}
	for _, a := range addrs {
		if t, _ := peer.SplitAddr(a); t != nil {
			out = append(out, t.String())
		}
	}
	return out
}

// connectPeer dials MA (ending in /p2p/<id>); host.Connect returns after
// identify. A DHT server remote then enters our table asynchronously (the DHT
// sees the identify event, probes the peer with FIND_NODE, then adds it), so
// wait a bounded time for that.
func connectPeer(ctx context.Context, h host.Host, d *kaddht.IpfsDHT, args []string) (obj, error) {
	if len(args) == 0 {
		return nil, errors.New("missing MULTIADDR argument")
	}
	a, err := ma.NewMultiaddr(args[0])
	if err != nil {
		return nil, fmt.Errorf("bad multiaddr: %w", err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("the multiaddr must end in /p2p/<peer id>: %w", err)
	}
	if err := h.Connect(ctx, *ai); err != nil {
		return nil, err
	}
	if d != nil {
		if ok, _ := h.Peerstore().SupportsProtocols(ai.ID, kadProtocol); len(ok) > 0 {
			deadline := time.Now().Add(rtJoinWait)
			for d.RoutingTable().Find(ai.ID) == "" && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			if d.RoutingTable().Find(ai.ID) == "" {
				logf("connect: %s speaks %s but is not in the routing table after %s", ai.ID, kadProtocol, rtJoinWait)
			}
		}
	}
	return obj{{"peer", ai.ID.String()}}, nil
}

// dhtCall runs f and returns at ctx's deadline even if f has not; an error
// caused by the deadline says so.
func dhtCall(ctx context.Context, f func() (obj, error)) (obj, error) {
	type result struct {
		o   obj
		err error
	}
	ch := make(chan result, 1)
	go func() { o, err := f(); ch <- result{o, err} }()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.err = fmt.Errorf("timeout: gave up after %s (%v)", cmdTimeout, r.err)
	}
	return r.o, r.err
}

func hexArg(args []string, i int, name string) ([]byte, error) {
	if len(args) <= i {
		return nil, fmt.Errorf("missing %s argument", name)
	}
	b, err := hex.DecodeString(args[i])
	if err != nil {
		return nil, fmt.Errorf("%s must be hex: %w", name, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	return b, nil
}

func cidArg(args []string) (cid.Cid, error) {
	if len(args) == 0 {
		return cid.Undef, errors.New("missing CID argument")
	}
	return cid.Decode(args[0])
}

// dhtCommand runs the dht-* commands.
func dhtCommand(ctx context.Context, h host.Host, d *kaddht.IpfsDHT, cmd string, args []string) (obj, error) {
	if d == nil {
		return nil, errors.New("no DHT: start with --dht server|client")
	}
	switch cmd {
	case "dht-routing-table":
		return obj{{"peers", routingTablePeers(d)}}, nil
	case "dht-bootstrap":
		return dhtCall(ctx, func() (obj, error) {
			// a forced refresh runs even with auto refresh disabled: a self
			// lookup, then one lookup per bucket up to the deepest one in use
			err := <-d.ForceRefresh()
			return obj{{"routing_table", routingTablePeers(d)}}, err
		})
	case "dht-find-peer":
		p, err := argPeer(args)
		if err != nil {
			return nil, err
		}
		return dhtCall(ctx, func() (obj, error) {
			ai, err := d.FindPeer(ctx, p)
			if err != nil {
				if errors.Is(err, routing.ErrNotFound) {
					return nil, errors.New("not found")
				}
				if ctx.Err() == nil {
					return nil, fmt.Errorf("not found: %w", err)
				}
				return nil, err
			}
			return obj{{"peer", ai.ID.String()}, {"addrs", transportAddrs(ai.Addrs)}}, nil
		})
	case "dht-closest":
		key, err := hexArg(args, 0, "HEXKEY")
		if err != nil {
			return nil, err
		}
		return dhtCall(ctx, func() (obj, error) {
			ps, err := d.GetClosestPeers(ctx, string(key))
			ids := []string{}
			for _, p := range ps {
				ids = append(ids, p.String())
			}
			return obj{{"peers", ids}, {"count", len(ids)}}, err
		})
	case "dht-provide":
		c, err := cidArg(args)
		if err != nil {
			return nil, err
		}
		return dhtCall(ctx, func() (obj, error) { return obj{}, d.Provide(ctx, c, true) })
	case "dht-find-providers":
		c, err := cidArg(args)
		if err != nil {
			return nil, err
		}
		n, err := argInt(args, 1, 20)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errors.New("COUNT must be at least 1")
		}
		return dhtCall(ctx, func() (obj, error) {
			found := []obj{}
			// the channel closes when COUNT providers were found or the lookup ended
			for ai := range d.FindProvidersAsync(ctx, c, int(n)) {
				addrs := ai.Addrs
				if len(addrs) == 0 { // e.g. our own record: take the peerstore's
					addrs = h.Peerstore().Addrs(ai.ID)
				}
				found = append(found, obj{{"peer", ai.ID.String()}, {"addrs", transportAddrs(addrs)}})
			}
			return obj{{"providers", found}}, ctx.Err()
		})
	case "dht-put":
		key, err := hexArg(args, 0, "KEYHEX")
		if err != nil {
			return nil, err
		}
		val, err := hexArg(args, 1, "VALUEHEX")
		if err != nil {
			return nil, err
		}
		return dhtCall(ctx, func() (obj, error) { return obj{}, d.PutValue(ctx, string(key), val) })
	case "dht-get":
		key, err := hexArg(args, 0, "KEYHEX")
		if err != nil {
			return nil, err
		}
		return dhtCall(ctx, func() (obj, error) {
			v, err := d.GetValue(ctx, string(key))
			if errors.Is(err, routing.ErrNotFound) {
				return nil, errors.New("not found")
			}
			if err != nil {
				return nil, err
			}
			return obj{{"value", hex.EncodeToString(v)}}, nil
		})
	}
	return nil, errors.New("unknown command")
}
