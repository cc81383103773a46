// The WebSocket transport for the js peer programs. /ws as is; /wss (/tls/ws) serves a
// self-signed certificate made at start-up by openssl and dials without checking the
// server's certificate, as the libp2p test-plans apps do: Noise on top authenticates
// the peer. Node 20 has no global WebSocket (js-libp2p's dialer uses it): the `ws`
// package, which @libp2p/websockets depends on, stands in.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { webSockets } from '@libp2p/websockets'
import { WebSocket as NodeWebSocket } from 'ws'

export const LISTEN_SUFFIX = { tcp: '/tcp/0', ws: '/tcp/0/ws', wss: '/tcp/0/tls/ws' }

function selfSigned () {
  const dir = mkdtempSync(join(tmpdir(), 'wss-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: ['ignore', 'ignore', 'pipe'] })
    return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// The transport for `transport` (ws or wss); `listening` makes the certificate.
export function websocketTransport (transport, listening) {
  if (globalThis.WebSocket == null || transport === 'wss') {
    const checkCertificate = transport !== 'wss'
    globalThis.WebSocket = class extends NodeWebSocket {
      constructor (url, protocols) {
        super(url, protocols, { rejectUnauthorized: checkCertificate })
      }
    }
  }
  return webSockets(transport === 'wss' && listening ? { https: selfSigned() } : {})
}
