package main

// listen --mdns: go-libp2p's mDNS discovery (_p2p._udp.local, as libp2p/specs discovery/mdns.md);
// each peer found is logged as "mdns: discovered <peer> at <addr>" (one line per address) and
// dialled unless already connected.

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

const mdnsDialTimeout = 10 * time.Second

type mdnsNotifee struct{ h host.Host }

func (n mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID == n.h.ID() {
		return
	}
	for _, a := range info.Addrs {
		logf("mdns: discovered %s at %s", info.ID, a)
	}
	if n.h.Network().Connectedness(info.ID) == network.Connected {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), mdnsDialTimeout)
		defer cancel()
		if err := n.h.Connect(ctx, info); err != nil {
			logf("mdns: could not dial %s: %v", info.ID, err)
			return
		}
		logf("mdns: connected to %s", info.ID)
	}()
}

// startMdns starts discovery on h; the returned service is closed with the host.
func startMdns(h host.Host) (interface{ Close() error }, error) {
	s := mdns.NewMdnsService(h, mdns.ServiceName, mdnsNotifee{h})
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}
