// Command peer is the go-libp2p interop peer used by the aiolibp2p tests.
//
// It offers the same command line and JSON lines as interop/js/peer.mjs
// (modes listen, dial, perf) plus the libp2p test-plans / unified-testing
// transport-interop contract (mode transport-interop, driven by environment
// variables) and the test-plans perf contract (perf --server-address).
// stdout carries only JSON lines (YAML for the unified-testing dialer); every
// log line goes to stderr. See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usageText = `usage:
  peer listen [--listen MA]... [--muxer yamux|mplex] [--security noise|tls] [--key-seed HEX32]
              [--key-type ed25519|secp256k1|rsa|ecdsa] [--agent STR] [--events] [--ignore-stdin]
              [--dht server|client [--dht-no-refresh]]
              [--pubsub gossipsub|floodsub [--pubsub-sign strict|none] [--subscribe TOPIC]...]
              [--mdns]
  peer dial --to MA [--muxer yamux|mplex] [--security noise|tls] [--pings N] [--echo-bytes N]
            [--streams K --stream-bytes N] [--stream-protocol echo|hash] [--hold-ms MS]
            [--timeout-ms MS] [--key-seed HEX32] [--key-type T] [--agent STR]
  peer perf --to MA [--muxer yamux|mplex] [--upload-bytes N] [--download-bytes N]
            [--iterations K] [--pings N] [--dials N] [--timeout-ms MS]
  peer perf --run-server --server-address IP:PORT [--muxer yamux|mplex]
  peer perf --server-address IP:PORT [--transport tcp|ws|quic-v1] [--upload-bytes N] [--download-bytes N]
  peer bench --to MA [--pings N] [--echo-rtts N] [--streams K --stream-bytes N --conns C]
             [--open-close N --workers W] [--timeout-ms MS]
  peer transport-interop            (configured by environment variables, see README.md)
  peer gossipsub-interop --params FILE.json [--node-id N] [--loopback-base-port P] [--start-time NS]

  peer hole-punch                   (test-plans hole-punch contract: MODE=relay|listen|dial, see holepunch.go)
  peer version`

// usage prints an error and the usage text, then exits with code 2.
func usage(format string, args ...any) {
	if format != "" {
		fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	}
	fmt.Fprintln(os.Stderr, usageText)
	os.Exit(2)
}

// options holds every command-line option of every mode; each mode reads what it needs.
type options struct {
	listen         stringList
	to             string
	muxer          string
	security       string
	keySeed        string
	keyType        string
	agent          string
	events         bool
	ignoreStdin    bool
	dht            string // "", server or client (listen)
	dhtNoRefresh   bool
	pubsub         string // "", gossipsub or floodsub (listen)
	mdns           bool   // listen --mdns: discover and dial peers by mDNS (mdns.go)
	pubsubSign     string // strict or none
	subscribe      stringList
	pings          int64
	echoBytes      int64
	streams        int64
	streamBytes    int64
	streamProtocol string
	holdMs         int64
	timeoutMs      int64
	// perf
	runServer     bool
	serverAddress string
	transport     string
	uploadBytes   int64
	downloadBytes int64
	iterations    int64
	dials         int64
	set           map[string]bool // options given explicitly
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseOptions(mode string, args []string) *options {
	o := &options{}
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&o.listen, "listen", "listen multiaddr (repeatable)")
	fs.StringVar(&o.to, "to", "", "multiaddr to dial, ending in /p2p/<peer id>")
	fs.StringVar(&o.muxer, "muxer", "yamux", "yamux or mplex")
	fs.StringVar(&o.security, "security", "noise", "noise or tls")
	fs.StringVar(&o.keySeed, "key-seed", "", "64 hex chars: Ed25519 seed")
	fs.StringVar(&o.keyType, "key-type", "ed25519", "ed25519, secp256k1, rsa or ecdsa")
	fs.StringVar(&o.agent, "agent", "", "identify agent version")
	fs.BoolVar(&o.events, "events", false, "print events (listen)")
	fs.BoolVar(&o.ignoreStdin, "ignore-stdin", false, "do not exit when stdin closes (listen)")
	fs.StringVar(&o.dht, "dht", "", "run the Kademlia DHT as server or client (listen)")
	fs.BoolVar(&o.dhtNoRefresh, "dht-no-refresh", false, "no automatic routing-table refresh (listen --dht)")
	fs.StringVar(&o.pubsub, "pubsub", "", "run gossipsub or floodsub (listen)")
	fs.StringVar(&o.pubsubSign, "pubsub-sign", "", "strict (StrictSign, default) or none (StrictNoSign)")
	fs.Var(&o.subscribe, "subscribe", "topic to subscribe to at start (repeatable; listen --pubsub)")
	fs.BoolVar(&o.mdns, "mdns", false, "discover peers by mDNS and dial them (listen)")
	fs.Int64Var(&o.pings, "pings", -1, "ping round trips")
	fs.Int64Var(&o.echoBytes, "echo-bytes", 0, "bytes for one echo stream")
	fs.Int64Var(&o.streams, "streams", 0, "concurrent checked streams")
	fs.Int64Var(&o.streamBytes, "stream-bytes", 1024, "bytes per checked stream")
	fs.StringVar(&o.streamProtocol, "stream-protocol", "echo", "echo or hash")
	fs.Int64Var(&o.holdMs, "hold-ms", 0, "wait before reporting (dial)")
	fs.Int64Var(&o.timeoutMs, "timeout-ms", -1, "overall time limit")
	fs.BoolVar(&o.runServer, "run-server", false, "perf server (test-plans contract)")
	fs.StringVar(&o.serverAddress, "server-address", "", "perf server IP:PORT (test-plans contract)")
	fs.StringVar(&o.transport, "transport", "tcp", "perf transport (tcp, ws or quic-v1)")
	fs.Int64Var(&o.uploadBytes, "upload-bytes", 0, "perf upload bytes")
	fs.Int64Var(&o.downloadBytes, "download-bytes", 0, "perf download bytes")
	fs.Int64Var(&o.iterations, "iterations", 1, "perf runs per direction (--to form)")
	fs.Int64Var(&o.dials, "dials", 0, "timed dials (--to form)")
	// accepted for command-line compatibility with peer.mjs; nothing to do here
	fs.Bool("no-connection-monitor", false, "no-op (go-libp2p has no connection monitor)")
	fs.Bool("perf", false, "no-op (the listener always serves /perf/1.0.0)")
	if err := fs.Parse(args); err != nil {
		usage("%v", err)
	}
	if fs.NArg() != 0 {
		usage("unexpected argument %q", fs.Arg(0))
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.muxer != "yamux" && o.muxer != "mplex" {
		usage("--muxer must be yamux or mplex")
	}
	if o.security != "noise" && o.security != "tls" {
		usage("--security must be noise or tls")
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"echo-bytes", o.echoBytes}, {"streams", o.streams}, {"stream-bytes", o.streamBytes},
		{"hold-ms", o.holdMs}, {"upload-bytes", o.uploadBytes}, {"download-bytes", o.downloadBytes},
		{"iterations", o.iterations}, {"dials", o.dials}} {
		if n.v < 0 {
			usage("--%s must be a non-negative integer", n.name)
		}
	}
	if o.set["pings"] && o.pings < 0 || o.set["timeout-ms"] && o.timeoutMs < 0 {
		usage("--pings and --timeout-ms must be non-negative integers")
	}
	if o.dht != "" && o.dht != "server" && o.dht != "client" {
		usage("--dht must be server or client")
	}
	if o.dhtNoRefresh && o.dht == "" {
		usage("--dht-no-refresh needs --dht")
	}
	checkPubsubOptions(o)
	if o.streamProtocol != "echo" && o.streamProtocol != "hash" {
		usage("--stream-protocol must be echo or hash")
	}
	return o
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		// a container entrypoint without arguments: the transport-interop contract
		if interopEnvPresent() {
			os.Exit(runTransportInterop())
		}
		usage("missing mode")
	}
	mode := args[0]
	switch mode {
	case "listen":
		os.Exit(runListen(parseOptions(mode, args[1:])))
	case "dial":
		os.Exit(runDial(parseOptions(mode, args[1:])))
	case "perf":
		os.Exit(runPerf(parseOptions(mode, args[1:])))
	case "bench": // benchmarks/suites/latency.py and streams.py (bench.go)
		os.Exit(runBench(args[1:]))
	case "transport-interop":
		if len(args) > 1 {
			usage("transport-interop takes no arguments (it reads environment variables)")
		}
		os.Exit(runTransportInterop())
	case "gossipsub-interop":
		os.Exit(runGossipsubInterop(args[1:]))

	case "hole-punch":
		os.Exit(runHolePunch())
	case "version":
		fmt.Println(defaultAgent())
		os.Exit(0)
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stderr, usageText)
		os.Exit(0)
	default:
		usage("first argument must be listen, dial, perf or transport-interop, not %q", mode)
	}
}
