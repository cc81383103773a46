/**
 * js-libp2p as a circuit relay v2 client (@libp2p/circuit-relay-v2), for aiolibp2p's relay tests.
 *
 *   node relay.mjs listen --relay MA        reserve a slot on the relay MA (/…/p2p/<relay>), print
 *                                           {"peer_id", "relayed_addrs"} once reserved, then serve
 *                                           /echo/1.0.0 and ping (also over relayed connections)
 *                                           until stdin closes or SIGTERM
 *   node relay.mjs dial --to MA [--echo-bytes N]
 *                                           dial MA (/…/p2p-circuit/p2p/<target>), ping it (and with
 *                                           --echo-bytes, check an echo of N bytes), print
 *                                           {"rtt_ms", "echo_ok", "remote_addr", "limited"} and exit
 *
 * stdout carries JSON lines only; logs and errors go to stderr (exit 1 on failure).
 */

import './polyfill.mjs'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO = '/echo/1.0.0'
const TIME_LIMIT_MS = 60_000

const log = (msg) => process.stderr.write(`[js-relay] ${msg}\n`)
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

function fail (msg) {
  log(msg)
  process.exit(1)
}

async function makeNode (listen) {
  return createLibp2p({
    addresses: { listen },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify(), ping: ping() }
  })
}

async function echoHandler (stream) {
  // echo until the remote closes its side (js-libp2p 3: streams are async iterables with send())
  for await (const chunk of stream) {
    if (!stream.send(chunk.subarray())) await stream.onDrain()
  }
  await stream.close()
}

async function listen (relay) {
  const node = await makeNode([`${relay}/p2p-circuit`])
  await node.handle(ECHO, (stream) => { echoHandler(stream).catch((err) => stream.abort(err)) },
    { runOnLimitedConnection: true })
  const deadline = Date.now() + TIME_LIMIT_MS
  let relayed = []
  while (relayed.length === 0) {
    relayed = node.getMultiaddrs().map(String).filter((a) => a.includes('/p2p-circuit'))
    if (relayed.length > 0) break
    if (Date.now() > deadline) fail(`no reservation on ${relay} within ${TIME_LIMIT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  emit({ peer_id: node.peerId.toString(), relayed_addrs: relayed })
  await new Promise((resolve) => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
    process.on('SIGTERM', resolve)
    process.on('SIGINT', resolve)
  })
  await node.stop()
}

async function dial (to, echoBytes) {
  const node = await makeNode([])
  const signal = AbortSignal.timeout(TIME_LIMIT_MS)
  try {
    const conn = await node.dial(multiaddr(to), { signal })
    const rtt = await node.services.ping.ping(multiaddr(to), { signal, runOnLimitedConnection: true })
    let echoOk = null
    if (echoBytes > 0) {
      const data = randomBytes(echoBytes)
      const stream = await conn.newStream(ECHO, { signal, runOnLimitedConnection: true })
      const chunks = []
      const reading = (async () => { for await (const c of stream) chunks.push(Buffer.from(c.subarray())) })()
      if (!stream.send(data)) await stream.onDrain()
      await stream.close({ signal })
      await reading
      echoOk = Buffer.concat(chunks).equals(data)
    }
    emit({ rtt_ms: rtt, echo_ok: echoOk, remote_addr: conn.remoteAddr.toString(), limited: conn.limits != null })
  } finally {
    await node.stop()
  }
}

const mode = process.argv[2]
const { values } = parseArgs({
  args: process.argv.slice(3),
  options: { relay: { type: 'string' }, to: { type: 'string' }, 'echo-bytes': { type: 'string' } }
})
try {
  if (mode === 'listen' && values.relay != null) await listen(values.relay)
  else if (mode === 'dial' && values.to != null) await dial(values.to, Number(values['echo-bytes'] ?? 0))
  else {
    log('usage: relay.mjs listen --relay MA | dial --to MA [--echo-bytes N]')
    process.exit(2)
  }
} catch (err) {
  fail(`${mode}: ${err?.stack ?? err}`)
}
process.exit(0)
