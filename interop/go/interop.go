package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/redis/go-redis/v9"
)

// The transport-interop test application contract, in its two dialects:
//
//   - libp2p/test-plans transport-interop ("legacy"): lower-case variables
//     transport, muxer, security, is_dialer, ip, redis_addr,
//     test_timeout_seconds; Redis list "listenerAddr" (RPUSH / BLPOP); the
//     dialer prints {"handshakePlusOneRTTMillis": f, "pingRTTMilllis": f}.
//   - libp2p/unified-testing transport ("unified"): TRANSPORT, SECURE_CHANNEL,
//     MUXER, IS_DIALER, LISTENER_IP, REDIS_ADDR, TEST_KEY, TEST_TIMEOUT_SECS,
//     DEBUG; Redis list "<TEST_KEY>_listener_multiaddr" (DEL + RPUSH / BLPOP);
//     the dialer prints YAML: latency: {handshake_plus_one_rtt, ping_rtt, unit: ms}.
//
// The unified dialect is chosen when IS_DIALER is set.

type interopConfig struct {
	unified   bool
	transport string
	muxer     string
	security  string
	isDialer  bool
	ip        string
	redisAddr string
	redisKey  string
	timeout   time.Duration
}

func interopEnvPresent() bool {
	_, upper := os.LookupEnv("IS_DIALER")
	_, lower := os.LookupEnv("is_dialer")
	return upper || lower
}

func readInteropEnv() (interopConfig, error) {
	c := interopConfig{}
	_, c.unified = os.LookupEnv("IS_DIALER")
	get := func(unified, legacy, dflt string) string {
		name := legacy
		if c.unified {
			name = unified
		}
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			return v
		}
		return dflt
	}
	c.transport = get("TRANSPORT", "transport", "")
	c.muxer = get("MUXER", "muxer", "")
	c.security = get("SECURE_CHANNEL", "security", "")
	c.isDialer = get("IS_DIALER", "is_dialer", "false") == "true"
	c.ip = get("LISTENER_IP", "ip", "0.0.0.0")
	timeoutSecs := get("TEST_TIMEOUT_SECS", "test_timeout_seconds", "180")
	if c.unified {
		c.redisAddr = get("REDIS_ADDR", "", "")
		key := get("TEST_KEY", "", "")
		if c.redisAddr == "" || key == "" {
			return c, fmt.Errorf("REDIS_ADDR and TEST_KEY are required")
		}
		c.redisKey = key + "_listener_multiaddr"
	} else {
		c.redisAddr = get("", "redis_addr", "redis:6379")
		c.redisKey = "listenerAddr"
	}
	secs, err := strconv.ParseFloat(timeoutSecs, 64)
	if err != nil || secs <= 0 {
		return c, fmt.Errorf("bad test timeout %q", timeoutSecs)
	}
	c.timeout = time.Duration(secs * float64(time.Second))
	if c.transport != "tcp" && c.transport != "quic-v1" {
		return c, fmt.Errorf("transport %q is not supported (tcp or quic-v1)", c.transport)
	}
	if c.transport == "quic-v1" {
		// QUIC secures and multiplexes itself
		c.muxer, c.security = "yamux", "noise"
	}
	if c.muxer != "yamux" && c.muxer != "mplex" {
		return c, fmt.Errorf("muxer %q is not supported (yamux or mplex)", c.muxer)
	}
	if c.security != "noise" && c.security != "tls" {
		return c, fmt.Errorf("security %q is not supported (noise or tls)", c.security)
	}
	return c, nil
}

func runTransportInterop() int {
	cfg, err := readInteropEnv()
	if err != nil {
		logf("transport-interop: %v", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		logf("transport-interop: %s", s)
		cancel()
	}()

	rc := redis.NewClient(&redis.Options{Addr: cfg.redisAddr})
	defer rc.Close()
	// the Redis server may still be starting
	for {
		err := rc.Ping(ctx).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			logf("transport-interop: Redis at %s unreachable: %v", cfg.redisAddr, err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}

	key, _ := loadKey("ed25519", "")
	listen := []string(nil)
	if !cfg.isDialer {
		ipProto := "ip4"
		if strings.Contains(cfg.ip, ":") {
			ipProto = "ip6"
		}
		if cfg.transport == "quic-v1" {
			listen = []string{fmt.Sprintf("/%s/%s/udp/0/quic-v1", ipProto, cfg.ip)}
		} else {
			listen = []string{fmt.Sprintf("/%s/%s/tcp/0", ipProto, cfg.ip)}
		}
	}
	h, err := newHost(nodeConfig{key: key, listen: listen, muxers: []string{cfg.muxer}, security: cfg.security})
	if err != nil {
		logf("transport-interop: cannot start: %v", err)
		return 1
	}
	defer closeHost(h)
	logf("transport-interop (%s dialect): %s, %s/%s/%s, dialer=%v, addrs %v", map[bool]string{true: "unified-testing",
		false: "test-plans"}[cfg.unified], h.ID(), cfg.transport, cfg.security, cfg.muxer, cfg.isDialer, h.Addrs())

	if !cfg.isDialer {
		addr := pickListenAddr(h.Addrs(), cfg.ip)
		if addr == nil {
			logf("transport-interop: no listen address")
			return 1
		}
		full := addr.String() + "/p2p/" + h.ID().String()
		if cfg.unified {
			rc.Del(ctx, cfg.redisKey) // a leftover value of another type would break RPUSH
		}
		if err := rc.RPush(ctx, cfg.redisKey, full).Err(); err != nil {
			logf("transport-interop: RPUSH %s: %v", cfg.redisKey, err)
			return 1
		}
		logf("transport-interop: published %s under %s; waiting (up to %s)", full, cfg.redisKey, cfg.timeout)
		<-ctx.Done()
		return 0
	}

	val, err := rc.BLPop(ctx, cfg.timeout, cfg.redisKey).Result()
	if err != nil || len(val) != 2 {
		logf("transport-interop: waiting for %s: %v", cfg.redisKey, err)
		return 1
	}
	info, err := peer.AddrInfoFromString(val[1])
	if err != nil {
		logf("transport-interop: bad listener address %q: %v", val[1], err)
		return 1
	}
	logf("transport-interop: dialing %s", val[1])
	start := time.Now()
	if err := h.Connect(ctx, *info); err != nil { // upgrade + identify, as go-libp2p's own test app
		logf("transport-interop: dial: %v", err)
		return 1
	}
	res := <-ping.Ping(ctx, h, info.ID)
	if res.Error != nil {
		logf("transport-interop: ping: %v", res.Error)
		return 1
	}
	total := float64(time.Since(start).Microseconds()) / 1000
	rtt := float64(res.RTT.Microseconds()) / 1000
	if cfg.unified {
		stdoutMu.Lock()
		fmt.Printf("# Measurements from dialer\nlatency:\n  handshake_plus_one_rtt: %s\n  ping_rtt: %s\n  unit: ms\n",
			strconv.FormatFloat(total, 'f', -1, 64), strconv.FormatFloat(rtt, 'f', -1, 64))
		stdoutMu.Unlock()
	} else {
		emit(obj{{"handshakePlusOneRTTMillis", total}, {"pingRTTMilllis", rtt}})
	}
	return 0
}

// pickListenAddr prefers a non-loopback address (the listener binds 0.0.0.0 in
// containers) unless we were told to listen on a loopback address.
func pickListenAddr(addrs []ma.Multiaddr, ip string) ma.Multiaddr {
	var loopback ma.Multiaddr
	for _, a := range addrs {
		if manet.IsIPLoopback(a) {
			if loopback == nil {
				loopback = a
			}
			continue
		}
		if !strings.HasPrefix(ip, "127.") && ip != "::1" {
			return a
		}
	}
	if loopback != nil {
		return loopback
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return nil
}
