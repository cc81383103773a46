package main

// The WebSocket transport for the peer program: /ws always; /wss (or /tls/ws)
// serves a self-signed certificate made at start-up and dials without checking
// the server's certificate, as the libp2p test-plans apps do: the security
// protocol on top (Noise or TLS) authenticates the peer.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
)

func websocketTransport() (libp2p.Option, error) {
	cert, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	return libp2p.Transport(websocket.New,
		websocket.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
		websocket.WithTLSClientConfig(&tls.Config{InsecureSkipVerify: true}),
	), nil
}

func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// listenSuffix is the listen address tail of a transport-interop transport.
func listenSuffix(transport string) (string, bool) {
	switch transport {
	case "tcp":
		return "/tcp/0", true
	case "ws":
		return "/tcp/0/ws", true
	case "wss":
		return "/tcp/0/tls/ws", true
	case "quic-v1":
		return "/udp/0/quic-v1", true
	}
	return "", false
}

// wsSuffix is what the perf contract's --transport adds after /tcp/PORT.
func wsSuffix(transport string) string {
	if transport == "ws" {
		return "/ws"
	}
	return ""
}
