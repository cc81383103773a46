// js-libp2p peer used by the aiolibp2p interop tests. See README.md for the
// command line and the JSON it prints. stdout carries only JSON lines; every
// log line goes to stderr (set DEBUG=libp2p:* for js-libp2p's own logs).
import './polyfill.mjs'

import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mplex } from '@libp2p/mplex'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { websocketTransport } from './websockets.mjs'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { noPubsubCommands, pubsubOptions, pubsubService, startPubsub } from './pubsub.mjs'

const ECHO_PROTOCOL = '/echo/1.0.0'
const HASH_PROTOCOL = '/hash/1.0.0'
const IDENTIFY_PUSH_PROTOCOL = '/ipfs/id/push/1.0.0'
const PERF_PROTOCOL = '/perf/1.0.0'
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const KAD_PROTOCOL = '/ipfs/kad/1.0.0' // also @libp2p/kad-dht's default; set explicitly
const PERF_BLOCK = 64 * 1024
const PERF_ZEROS = new Uint8Array(PERF_BLOCK)
// generous per-protocol stream limits so K concurrent test streams never trip
// js-libp2p's defaults (32 inbound / 64 outbound per protocol per connection)
const STREAM_LIMIT = 4096
const STOP_TIMEOUT_MS = 3000
const CHUNK = 64 * 1024
const DHT_TIMEOUT_MS = 30_000 // every dht-* command gives up after this
const CONNECT_WAIT_MS = 5_000 // `connect`: identify + routing-table entry
// the longest setTimeout delay (~24.8 days); a longer one fires at once
const NEVER_MS = 2 ** 31 - 1

// ---------------------------------------------------------------- utilities

function log (...args) {
  console.error('[js-peer]', ...args)
}

function emit (obj) {
  // one JSON object per line; stdout is for the harness only
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function errText (err) {
  if (err == null) return 'unknown error'
  const name = err.name != null && err.name !== 'Error' ? `${err.name}: ` : ''
  return `${name}${err.message ?? String(err)}`
}

function toBytes (chunk) {
  // Uint8Array | Uint8ArrayList -> Uint8Array
  return typeof chunk.subarray === 'function' && !(chunk instanceof Uint8Array) ? chunk.subarray() : chunk
}

function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function usage (msg) {
  if (msg != null) console.error(`error: ${msg}`)
  console.error(`usage:
  node peer.mjs listen [--listen MA]... [--muxer yamux|mplex] [--key-seed HEX32] [--key-type T]
                       [--agent STR] [--events] [--ignore-stdin] [--no-connection-monitor] [--perf]
                       [--dht server|client [--dht-no-refresh]]
                       [--pubsub gossipsub|floodsub [--pubsub-sign strict|none] [--subscribe TOPIC]...]
  node peer.mjs dial --to MA [--muxer yamux|mplex] [--pings N] [--echo-bytes N]
                     [--streams K --stream-bytes N] [--stream-protocol echo|hash]
                     [--hold-ms MS] [--timeout-ms MS] [--key-seed HEX32] [--key-type T] [--agent STR]
                     [--no-connection-monitor]
  node peer.mjs perf --to MA [--muxer yamux|mplex] [--upload-bytes N] [--download-bytes N]
                     [--iterations K] [--pings N] [--dials N] [--timeout-ms MS] [--no-connection-monitor]`)
  process.exit(2)
}

function intOpt (values, name, dflt) {
  const v = values[name]
  if (v == null) return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) usage(`--${name} must be a non-negative integer`)
  return n
}

/** The stream was reset by the remote or aborted locally. */
function streamFailed (stream) {
  return stream.status === 'aborted' || stream.status === 'reset'
}

/**
 * True when no more data will ever be delivered to a 'message' listener: the
 * remote closed its writable end (or our readable end is closed) AND nothing
 * is left in the stream's read buffer. This is the test js-libp2p's own
 * byteStream/lpStream/pbStream readers use (isEOF in @libp2p/utils
 * stream-utils.js), which identify and friends read with.
 *
 * Not `stream.readableEnded`: that only says 'end' was emitted once, and
 * 'end' can fire while multistream-select's temporary byteStream still holds
 * bytes it read ahead; those are pushed back with stream.unshift() when
 * negotiation finishes (byteStream.unwrap), AFTER 'end'. So an inbound stream
 * whose proposal, data and FIN all arrived together reaches its handler with
 * readableEnded === true AND readBufferLength > 0, and 'end' never fires
 * again (see the MessageStream.readableEnded docs in @libp2p/interface).
 */
function streamDrained (stream) {
  return (stream.remoteWriteStatus !== 'writable' || stream.readStatus === 'closed') &&
    stream.readBufferLength === 0
}

/**
 * Read a stream to its end, calling onChunk for every received chunk.
 * Resolves on a clean end (remote half-closed and everything delivered),
 * rejects if the stream was reset/aborted.
 *
 * Race-free whatever arrived before we attached: adding the 'message'
 * listener makes the stream dispatch anything already buffered (including
 * bytes multistream-select handed back) in a microtask, and the end is decided
 * from the stream's state (streamDrained), re-checked after every chunk and on
 * every state-change event, never from an event that may have fired already.
 * (A plain `for await` over the stream can hang in that case, because it only
 * watches 'remoteCloseWrite' and 'close'.)
 */
function consume (stream, onChunk) {
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err) => {
      if (done) return
      done = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', check)
      stream.removeEventListener('remoteCloseWrite', check)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve()
    }
    function check () {
      if (streamFailed(stream)) finish(new Error(`stream ${stream.status}`))
      else if (streamDrained(stream)) finish()
    }
    function onMessage (evt) {
      if (done) return
      try {
        onChunk(toBytes(evt.data))
      } catch (err) {
        finish(err)
        return
      }
      // the read buffer was emptied before this event was dispatched: if the
      // remote has closed its end there is nothing more to come
      check()
    }
    function onClose (evt) {
      if (evt.error != null) finish(evt.error)
      else if (stream.readStatus === 'paused' && stream.readBufferLength > 0) {
        // closed while we were paused for back-pressure: what is buffered can
        // no longer be answered (the writable end is gone too)
        finish(new Error(`stream closed with ${stream.readBufferLength} unread bytes`))
      } else check() // data still buffered is delivered to onMessage, which re-checks
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', check)
    stream.addEventListener('remoteCloseWrite', check)
    stream.addEventListener('close', onClose)
    check()
  })
}

/** Send a buffer in chunks honouring back-pressure. */
async function sendAll (stream, data) {
  for (let off = 0; off < data.byteLength; off += CHUNK) {
    if (!stream.send(data.subarray(off, Math.min(off + CHUNK, data.byteLength)))) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
}

function addrList (addrs) {
  return (addrs ?? []).map(a => a.toString())
}

async function peerStoreInfo (node, peerId) {
  try {
    const peer = await node.peerStore.get(peerId)
    const md = (k) => {
      const v = peer.metadata.get(k)
      return v == null ? null : new TextDecoder().decode(v)
    }
    return {
      addresses: peer.addresses.map(a => ({ addr: a.multiaddr.toString(), certified: a.isCertified === true })),
      protocols: [...peer.protocols],
      agent: md('AgentVersion'),
      protocol_version: md('ProtocolVersion'),
      has_public_key: peer.id.publicKey != null,
      has_peer_record: peer.peerRecordEnvelope != null
    }
  } catch (err) {
    return { error: errText(err) }
  }
}

function identifyJson (result) {
  const spr = result.signedPeerRecord
  return {
    peer: result.peerId.toString(),
    agent: result.agentVersion ?? null,
    protocol_version: result.protocolVersion ?? null,
    protocols: [...(result.protocols ?? [])],
    listen_addrs: addrList(result.listenAddrs),
    observed_addr: result.observedAddr?.toString() ?? null,
    has_public_key: result.publicKey != null,
    // present only when a signed peer record was received AND verified
    signed_peer_record: spr == null ? null : { seq: String(spr.seq), addrs: addrList(spr.addresses) }
  }
}

function connJson (conn) {
  return {
    id: conn.id,
    peer: conn.remotePeer.toString(),
    remote_addr: conn.remoteAddr.toString(),
    direction: conn.direction,
    muxer: conn.multiplexer ?? null,
    encryption: conn.encryption ?? null
  }
}

// ---------------------------------------------------------------- handlers

function makeHandlers (report) {
  // echo: copy every byte back until the remote half-closes, then close
  async function echoHandler (stream, connection) {
    let bytes = 0
    try {
      await consume(stream, (buf) => {
        bytes += buf.byteLength
        if (!stream.send(buf) && stream.readStatus === 'readable') {
          // back-pressure: stop reading until the write side drains
          stream.pause()
          stream.onDrain().then(() => { if (stream.readStatus === 'paused') stream.resume() }, () => {})
        }
      })
      await stream.close({ signal: AbortSignal.timeout(30_000) })
      report({ event: 'stream', protocol: stream.protocol, peer: connection.remotePeer.toString(), direction: 'inbound', bytes, ok: true })
    } catch (err) {
      log(`echo handler error: ${errText(err)}`)
      stream.abort(err)
      report({ event: 'stream', protocol: stream.protocol, peer: connection.remotePeer.toString(), direction: 'inbound', bytes, ok: false, error: errText(err) })
    }
  }

  // hash: read until EOF, reply with the lowercase sha256 hex of what was read
  async function hashHandler (stream, connection) {
    const h = createHash('sha256')
    let bytes = 0
    try {
      await consume(stream, (buf) => { bytes += buf.byteLength; h.update(buf) })
      const hex = h.digest('hex')
      stream.send(new TextEncoder().encode(hex))
      await stream.close({ signal: AbortSignal.timeout(30_000) })
      report({ event: 'stream', protocol: HASH_PROTOCOL, peer: connection.remotePeer.toString(), direction: 'inbound', bytes, sha256: hex, ok: true })
    } catch (err) {
      log(`hash handler error: ${errText(err)}`)
      stream.abort(err)
      report({ event: 'stream', protocol: HASH_PROTOCOL, peer: connection.remotePeer.toString(), direction: 'inbound', bytes, ok: false, error: errText(err) })
    }
  }
  return { echoHandler, hashHandler }
}

const handlerOptions = { maxInboundStreams: STREAM_LIMIT, maxOutboundStreams: STREAM_LIMIT }

// ------------------------------------------------------------------- perf

/** Send n zero bytes in PERF_BLOCK chunks honouring back-pressure. */
async function sendZeros (stream, n) {
  while (n > 0) {
    const chunk = n >= PERF_BLOCK ? PERF_ZEROS : PERF_ZEROS.subarray(0, n)
    n -= chunk.byteLength
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
}

/**
 * /perf/1.0.0 server (libp2p/specs perf/perf.md): read the u64 big-endian
 * download size, drain the upload until the remote half-closes, then send that
 * many bytes and close.
 */
async function perfHandler (stream) {
  const header = new Uint8Array(8)
  let headerLen = 0
  try {
    await consume(stream, (buf) => {
      if (headerLen < 8) {
        const take = Math.min(8 - headerLen, buf.byteLength)
        header.set(buf.subarray(0, take), headerLen)
        headerLen += take
      }
    })
    if (headerLen < 8) throw new Error(`perf: stream ended after ${headerLen} header bytes`)
    const n = new DataView(header.buffer).getBigUint64(0)
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`perf: download size ${n} too large`)
    await sendZeros(stream, Number(n))
    await stream.close({ signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    log(`perf handler error: ${errText(err)}`)
    stream.abort(err)
  }
}

/** One perf run on a new stream: upload then download; resolves to the seconds it took. */
async function perfOnce (conn, upload, download) {
  const start = performance.now()
  const stream = await conn.newStream(PERF_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  let received = 0
  const reading = consume(stream, (buf) => { received += buf.byteLength })
  try {
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(download))
    stream.send(header)
    await sendZeros(stream, upload)
    await stream.close({ signal: AbortSignal.timeout(60_000) })
    await reading
  } catch (err) {
    stream.abort(err)
    reading.catch(() => {})
    throw err
  }
  const seconds = (performance.now() - start) / 1000
  if (received !== download) throw new Error(`perf: expected ${download} bytes, received ${received}`)
  return seconds
}

/** Buffered exact reads from a stream's 'message' events. */
function streamReader (stream) {
  const chunks = []
  let buffered = 0
  let waiter = null
  const wake = () => { if (waiter != null) { const w = waiter; waiter = null; w() } }
  stream.addEventListener('message', (evt) => {
    const b = toBytes(evt.data)
    chunks.push(b)
    buffered += b.byteLength
    wake()
  })
  // wake on any state change; whether more can come is decided from the
  // stream's state (see streamDrained), not from which events have fired
  for (const name of ['end', 'remoteCloseWrite', 'close']) stream.addEventListener(name, wake)
  return async function readExactly (n) {
    while (buffered < n) {
      if (streamFailed(stream)) throw new Error(`stream ${stream.status} with ${buffered} of ${n} bytes read`)
      if (streamDrained(stream)) throw new Error(`stream ended with ${buffered} of ${n} bytes`)
      await new Promise(resolve => { waiter = resolve })
    }
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      const head = chunks[0]
      const take = Math.min(head.byteLength, n - off)
      out.set(head.subarray(0, take), off)
      off += take
      if (take === head.byteLength) chunks.shift()
      else chunks[0] = head.subarray(take)
    }
    buffered -= n
    return out
  }
}

/** n ping round trips on ONE /ipfs/ping/1.0.0 stream (js's ping service opens a stream per ping); seconds each. */
async function pingSameStream (conn, n) {
  const stream = await conn.newStream(PING_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const readExactly = streamReader(stream)
  const rtts = []
  try {
    for (let i = 0; i < n; i++) {
      const data = randomBytes(32)
      const start = performance.now()
      stream.send(data)
      const back = await withTimeout(readExactly(32), 10_000, 'ping')
      rtts.push((performance.now() - start) / 1000)
      if (!Buffer.from(back).equals(data)) throw new Error('ping: wrong payload echoed')
    }
    await stream.close({ signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    stream.abort(err)
    throw err
  }
  return rtts
}

// ------------------------------------------------------------------- node

async function loadKey (values) {
  const type = (values['key-type'] ?? 'ed25519').toLowerCase()
  const seedHex = values['key-seed']
  if (seedHex != null) {
    if (!/^[0-9a-fA-F]{64}$/.test(seedHex)) usage('--key-seed must be 64 hex characters (32 bytes)')
    if (type !== 'ed25519') usage('--key-seed only works with --key-type ed25519')
    return generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from(seedHex, 'hex')))
  }
  switch (type) {
    case 'ed25519': return generateKeyPair('Ed25519')
    case 'secp256k1': return generateKeyPair('secp256k1')
    // no 'ecdsa': @libp2p/peer-id 6 cannot make a PeerId of an ECDSA key
    // (peerIdFromPublicKey throws UnsupportedKeyTypeError)
    case 'rsa': return generateKeyPair('RSA', 2048)
    default: usage(`--key-type must be ed25519, secp256k1 or rsa (js-libp2p has no ECDSA peer ids), not ${type}`)
  }
}

/**
 * @libp2p/kad-dht for `listen --dht server|client`: /ipfs/kad/1.0.0, k = 20,
 * alpha = 10, the default validators and selectors. Everything runs on
 * 127.0.0.1, so no address filtering (the default peerInfoMapper drops private
 * addresses from the answers we give and from the peers we learn).
 *
 * --dht-no-refresh turns off every lookup the DHT starts by itself. In
 * @libp2p/kad-dht 16.4.5 that is only QuerySelf: a self-lookup 1 s after start
 * (which first waits, without a time limit, for a peer in the table), then one
 * every 5 minutes. Both delays go to the longest timer, which never fires in a
 * test's lifetime. Every other query waits for that initial self-lookup unless
 * allowQueryWithZeroPeers is set (which also lets a query run, finding nothing,
 * on an empty table instead of waiting for a peer). RoutingTableRefresh needs
 * nothing: it has afterStart() but no start(), so @libp2p/interface's start()
 * skips it, and its random walks only run from refreshRoutingTable(), which we
 * never call. There is no lookup on "peer added".
 */
function dhtService (values) {
  const init = {
    protocol: KAD_PROTOCOL,
    clientMode: values.dht === 'client',
    peerInfoMapper: passthroughMapper
  }
  if (values['dht-no-refresh'] === true) {
    Object.assign(init, {
      initialQuerySelfInterval: NEVER_MS,
      querySelfInterval: NEVER_MS,
      allowQueryWithZeroPeers: true
    })
  }
  return kadDHT(init)
}

async function makeNode ({ values, mode, muxer }) {
  const muxers = { yamux: yamux(), mplex: mplex({ disconnectThreshold: 100_000 }) }
  let streamMuxers
  if (mode === 'listen') {
    // both, preferred first
    streamMuxers = muxer === 'yamux' ? [muxers.yamux, muxers.mplex] : [muxers.mplex, muxers.yamux]
  } else {
    streamMuxers = [muxers[muxer]]
  }
  const listen = mode === 'listen' ? (values.listen ?? ['/ip4/127.0.0.1/tcp/0']) : []
  const init = {
    privateKey: await loadKey(values),
    addresses: { listen },
    transports: [tcp(), websocketTransport('ws', false)],
    connectionEncrypters: [noise()],
    streamMuxers,
    // no bootstrap, mDNS, UPnP, autoNAT, relay (nor DHT without --dht): nothing reaches the network
    peerDiscovery: [],
    connectionManager: {
      // default 5/s per remote address: our tests open many connections quickly
      inboundConnectionThreshold: 100_000,
      maxIncomingPendingConnections: 1000,
      maxConnections: 10_000,
      maxParallelDials: 100,
      dialTimeout: 10_000,
      reconnectRetries: 0
    },
    connectionMonitor: { enabled: values['no-connection-monitor'] !== true },
    services: {
      // we run identify ourselves on every new connection so that failures are
      // reported instead of being swallowed by the service
      identify: identify({ runOnConnectionOpen: false, timeout: 10_000, maxInboundStreams: 64, maxOutboundStreams: 64 }),
      identifyPush: identifyPush({ maxInboundStreams: 64, maxOutboundStreams: 64 }),
      ping: ping({ maxInboundStreams: 64, maxOutboundStreams: 64 })
    }
  }
  // kad-dht depends on the services `identify` (capability) and `ping` (it
  // pings every new contact with components.ping before adding it)
  if (mode === 'listen' && values.dht != null) init.services.dht = dhtService(values)
  const pubsub = mode === 'listen' ? pubsubOptions(values) : null
  if (pubsub != null) init.services.pubsub = pubsubService(pubsub)
  if (values.agent != null) init.nodeInfo = { userAgent: values.agent }
  return createLibp2p(init)
}

/**
 * Watch identify on every connection. `onResult(kind, json)` receives
 * kind 'identify' (our request on a new connection), 'identify_push'
 * (an identify/push from the remote) or 'identify_error'.
 */
function watchIdentify (node, onResult) {
  const pending = new Map() // connection id -> promise of our identify
  const ownRequests = new Set()
  node.addEventListener('peer:identify', (evt) => {
    const r = evt.detail
    if (ownRequests.has(r.connection.id)) return // reported by the caller below
    onResult('identify_push', identifyJson(r), r.connection)
  })
  const run = (conn) => {
    if (pending.has(conn.id)) return pending.get(conn.id)
    ownRequests.add(conn.id)
    const p = node.services.identify.identify(conn)
      .then(async (r) => {
        ownRequests.delete(conn.id)
        const j = identifyJson(r)
        j.peer_store = await peerStoreInfo(node, conn.remotePeer)
        onResult('identify', j, conn)
        return j
      }, (err) => {
        ownRequests.delete(conn.id)
        onResult('identify_error', { peer: conn.remotePeer.toString(), error: errText(err) }, conn)
        throw err
      })
    p.catch(() => {})
    pending.set(conn.id, p)
    return p
  }
  node.addEventListener('connection:open', (evt) => { run(evt.detail) })
  node.addEventListener('connection:close', (evt) => { pending.delete(evt.detail.id) })
  return run
}

async function stopNode (node) {
  try {
    await withTimeout(node.stop(), STOP_TIMEOUT_MS, 'libp2p.stop()')
  } catch (err) {
    log(`stop: ${errText(err)}`)
  }
}

// ------------------------------------------------------------- client ops

async function echoOnce (conn, protocol, data) {
  const stream = await conn.newStream(protocol, { maxOutboundStreams: STREAM_LIMIT, signal: AbortSignal.timeout(10_000) })
  const chunks = []
  let received = 0
  const reading = consume(stream, (buf) => { chunks.push(Buffer.from(buf)); received += buf.byteLength })
  try {
    await sendAll(stream, data)
    await stream.close({ signal: AbortSignal.timeout(30_000) })
    await reading
  } catch (err) {
    stream.abort(err)
    reading.catch(() => {})
    throw err
  }
  return { body: Buffer.concat(chunks, received), received }
}

async function checkedStream (conn, protocol, nbytes) {
  const data = randomBytes(nbytes)
  const want = createHash('sha256').update(data).digest('hex')
  const { body } = await echoOnce(conn, protocol, data)
  if (protocol === HASH_PROTOCOL) {
    const got = body.toString('utf8').trim().toLowerCase()
    if (got !== want) throw new Error(`hash mismatch: sent sha256 ${want}, remote said ${got}`)
  } else {
    const got = createHash('sha256').update(body).digest('hex')
    if (body.byteLength !== nbytes || got !== want) {
      throw new Error(`echo mismatch: sent ${nbytes} bytes (sha256 ${want}), got ${body.byteLength} bytes (sha256 ${got})`)
    }
  }
}

async function doPings (node, peerId, n) {
  const rtts = []
  for (let i = 0; i < n; i++) {
    rtts.push(await node.services.ping.ping(peerId, { signal: AbortSignal.timeout(10_000) }))
  }
  return rtts
}

// -------------------------------------------------------------------- dht

/** Multiaddr strings without their trailing /p2p/<peer id>, deduplicated. */
function transportAddrs (addrs) {
  const out = (addrs ?? []).map(ma => ma.getComponents().some(c => c.code === CODE_P2P) ? ma.decapsulateCode(CODE_P2P).toString() : ma.toString())
  // a js server may hold a provider's address both with and without /p2p
  return [...new Set(out)]
}

function hexArg (hex, name) {
  if (hex == null || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new Error(`${name} must be a non-empty even-length hex string`)
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

function cidArg (str) {
  if (str == null) throw new Error('missing CID argument')
  return CID.parse(str)
}

/** Our routing table's peer ids, sorted. */
function routingTablePeers (dht) {
  return [...dht.routingTable.kb.toIterable()].map(p => p.peerId.toString()).sort()
}

/** Poll an (async) condition every 20 ms until it holds (→ true) or `ms` ran out (→ false). */
async function waitFor (check, ms) {
  const deadline = Date.now() + ms
  while (true) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * Run one dht-* operation with an AbortSignal that fires after
 * DHT_TIMEOUT_MS; a failure caused by it says so.
 */
async function dhtCall (node, cmd, fn) {
  const signal = AbortSignal.timeout(DHT_TIMEOUT_MS)
  let result
  try {
    result = await fn(signal)
  } catch (err) {
    if (signal.aborted) throw new Error(`timeout: ${cmd} gave up after ${DHT_TIMEOUT_MS} ms (${errText(err)})`)
    throw err
  }
  // stopping the DHT ends running queries quietly, with what they had so far
  if (node.status !== 'started') throw new Error(`${cmd} interrupted: the node is stopping`)
  return result
}

/** The stdin commands of `listen --dht`: dht-bootstrap, dht-routing-table, dht-find-peer, ... */
function dhtCommands (node) {
  const dht = node.services.dht
  const commands = {
    'dht-routing-table': async () => ({ peers: routingTablePeers(dht) }),
    // one self-lookup now (QuerySelf's query), even with --dht-no-refresh; not
    // dht.refreshRoutingTable(): it does not wait for its random walks and
    // would then schedule them every 5 minutes
    'dht-bootstrap': async () => dhtCall(node, 'dht-bootstrap', async (signal) => {
      for await (const event of dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal, isSelfQuery: true })) {
        void event
      }
      // peers named in the answers are queued for the table (each is pinged
      // first): let that finish so routing_table shows the outcome
      await dht.routingTable.routingTableUpdateQueue?.onIdle?.({ signal })
      return { routing_table: routingTablePeers(dht) }
    }),
    'dht-find-peer': async ([peer]) => {
      const id = peerIdFromString(peer)
      return dhtCall(node, 'dht-find-peer', async (signal) => {
        try {
          // like js's own findPeer: the peer store first, then the network
          for await (const event of dht.findPeer(id, { signal })) {
            if (event.name === 'FINAL_PEER') {
              return { peer: event.peer.id.toString(), addrs: transportAddrs(event.peer.multiaddrs) }
            }
          }
        } catch (err) {
          if (err.name !== 'NotFoundError' || signal.aborted) throw err
        }
        throw new Error('not found')
      })
    },
    'dht-closest': async ([hex]) => {
      const key = hexArg(hex, 'HEXKEY')
      return dhtCall(node, 'dht-closest', async (signal) => {
        const peers = []
        // FINAL_PEER events come at the end of the query, closest first
        for await (const event of dht.getClosestPeers(key, { signal })) {
          if (event.name === 'FINAL_PEER') peers.push(event.peer.id.toString())
        }
        return { peers, count: peers.length }
      })
    },
    'dht-provide': async ([cidStr]) => {
      const cid = cidArg(cidStr)
      return dhtCall(node, 'dht-provide', async (signal) => {
        const sentTo = []
        for await (const event of dht.provide(cid, { signal })) {
          if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') sentTo.push(event.from.toString())
        }
        // js ends a provide that reached nobody without an error (go fails it)
        if (sentTo.length === 0) throw new Error('the provider record reached no DHT server')
        return { sent_to: sentTo }
      })
    },
    'dht-find-providers': async ([cidStr, n]) => {
      const cid = cidArg(cidStr)
      const count = Number(n ?? 20)
      if (!Number.isInteger(count) || count < 1) throw new Error('COUNT must be an integer >= 1')
      return dhtCall(node, 'dht-find-providers', async (signal) => {
        const providers = []
        const seen = new Set()
        for await (const event of dht.findProviders(cid, { signal })) {
          if (event.name !== 'PROVIDER') continue
          for (const p of event.providers) {
            const id = p.id.toString()
            if (seen.has(id)) continue
            seen.add(id)
            providers.push({ peer: id, addrs: transportAddrs(p.multiaddrs) })
          }
          if (providers.length >= count) break // ends the query
        }
        return { providers: providers.slice(0, count) }
      })
    },
    'dht-put': async ([keyHex, valueHex]) => {
      const key = hexArg(keyHex, 'KEYHEX')
      const value = hexArg(valueHex, 'VALUEHEX')
      return dhtCall(node, 'dht-put', async (signal) => {
        const storedAt = []
        let lastError = null
        for await (const event of dht.put(key, value, { signal })) {
          if (event.name === 'QUERY_ERROR') lastError = event.error
          if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE' &&
              event.record != null && Buffer.from(event.record.value).equals(Buffer.from(value))) {
            storedAt.push(event.from.toString())
          }
        }
        // js stores the record locally without validating it and ends without
        // an error even when every server rejected it (e.g. a key with no
        // validator): fail when nobody echoed it back
        if (storedAt.length === 0) throw new Error(`no DHT server stored the record${lastError != null ? ` (last error: ${errText(lastError)})` : ''}`)
        return { stored_at: storedAt }
      })
    },
    'dht-get': async ([keyHex]) => {
      const key = hexArg(keyHex, 'KEYHEX')
      return dhtCall(node, 'dht-get', async (signal) => {
        let value = null
        try {
          // the best record (by the selectors) comes as the last VALUE event
          for await (const event of dht.get(key, { signal })) {
            if (event.name === 'VALUE') value = event.value
          }
        } catch (err) {
          if (err.name !== 'NotFoundError' || signal.aborted) throw err
        }
        if (value == null) throw new Error('not found')
        return { value: Buffer.from(value).toString('hex') }
      })
    }
  }
  if (dht != null) return commands
  const noDht = async () => { throw new Error('no DHT: start with --dht server|client') }
  return Object.fromEntries(Object.keys(commands).map(name => [name, noDht]))
}

// ------------------------------------------------------------------ listen

async function runListen (values, muxer) {
  const events = values.events === true
  const report = (obj) => { if (events) emit(obj) }
  const node = await makeNode({ values, mode: 'listen', muxer })
  const { echoHandler, hashHandler } = makeHandlers(report)
  await node.handle(ECHO_PROTOCOL, echoHandler, handlerOptions)
  await node.handle(HASH_PROTOCOL, hashHandler, handlerOptions)
  if (values.perf === true) await node.handle(PERF_PROTOCOL, perfHandler, { maxInboundStreams: 64, maxOutboundStreams: 64 })

  node.addEventListener('connection:open', (evt) => report({ event: 'connection_open', ...connJson(evt.detail) }))
  node.addEventListener('connection:close', (evt) => report({ event: 'connection_close', ...connJson(evt.detail) }))
  const identifyConn = watchIdentify(node, (kind, j) => {
    log(`${kind}: ${JSON.stringify(j)}`)
    report({ event: kind, ...j })
  })

  let stopping = false
  const shutdown = async (why, code = 0) => {
    if (stopping) return
    stopping = true
    log(`shutting down (${why})`)
    const hard = setTimeout(() => process.exit(code), STOP_TIMEOUT_MS + 1000)
    hard.unref()
    await stopNode(node)
    process.exit(code)
  }
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  process.on('SIGINT', () => { shutdown('SIGINT') })

  await node.start()
  const dht = node.services.dht
  const ready = {
    peer_id: node.peerId.toString(),
    multiaddrs: node.getMultiaddrs().map(ma => ma.toString()),
    agent: node.services.identify.host?.agentVersion ?? null,
    protocols: node.getProtocols()
  }
  if (dht != null) ready.dht = dht.getMode()
  const pubsub = pubsubOptions(values)
  // before the ready line: its --subscribe topics joined
  const pubsubCommands = pubsub != null ? startPubsub(node, pubsub, report) : noPubsubCommands()
  if (pubsub != null) Object.assign(ready, { pubsub: pubsub.router, pubsub_sign: pubsub.sign })
  emit(ready)
  log(`listening as ${node.peerId} on ${node.getMultiaddrs().join(' ')} (muxers: ${muxer} preferred${dht != null ? `, DHT ${dht.getMode()}${values['dht-no-refresh'] === true ? ' without refresh' : ''}` : ''})`)

  if (values['ignore-stdin'] === true) return

  // stdin: closing it stops the peer; each line may carry a command
  const commands = {
    'add-protocol': async ([proto]) => {
      await node.handle(proto, echoHandler, handlerOptions) // triggers identify push
      return { protocols: node.getProtocols() }
    },
    'remove-protocol': async ([proto]) => {
      await node.unhandle(proto) // triggers identify push
      return { protocols: node.getProtocols() }
    },
    push: async () => {
      await node.services.identifyPush.push()
      return {}
    },
    ping: async ([peer, n]) => {
      const rtts = await doPings(node, peerIdFromString(peer), Number(n ?? 1))
      return { rtts_ms: rtts }
    },
    echo: async ([peer, n]) => {
      const conns = node.getConnections(peerIdFromString(peer))
      if (conns.length === 0) throw new Error(`not connected to ${peer}`)
      await checkedStream(conns[0], ECHO_PROTOCOL, Number(n ?? 1024))
      return { ok: true }
    },
    identify: async ([peer]) => {
      const conns = node.getConnections(peerIdFromString(peer))
      if (conns.length === 0) throw new Error(`not connected to ${peer}`)
      // a fresh identify request on the first connection
      const r = await node.services.identify.identify(conns[0])
      return { ...identifyJson(r), peer_store: await peerStoreInfo(node, conns[0].remotePeer) }
    },
    'peer-info': async ([peer]) => peerStoreInfo(node, peerIdFromString(peer)),
    connections: async () => ({ connections: node.getConnections().map(connJson) }),
    // dial MA (ending in /p2p/<id>), wait for our identify of that connection
    // and, when we run a DHT and the remote serves it, for the remote to enter
    // our routing table (the DHT adds it after identify and a ping)
    connect: async ([addr]) => {
      const ma = multiaddr(addr)
      if (ma.getComponents().findLast(c => c.code === CODE_P2P) == null) throw new Error('the multiaddr must end in /p2p/<peer id>')
      const conn = await node.dial(ma, { signal: AbortSignal.timeout(15_000) })
      const deadline = Date.now() + CONNECT_WAIT_MS
      const j = await withTimeout(identifyConn(conn), CONNECT_WAIT_MS, 'identify')
      if (dht != null && j.protocols.includes(KAD_PROTOCOL)) {
        const inTable = await waitFor(async () => (await dht.routingTable.find(conn.remotePeer)) != null, Math.max(0, deadline - Date.now()))
        if (!inTable) log(`connect: ${conn.remotePeer} serves ${KAD_PROTOCOL} but is not in the routing table after ${CONNECT_WAIT_MS} ms`)
      }
      return { peer: conn.remotePeer.toString() }
    },
    ...dhtCommands(node),
    ...pubsubCommands,
    quit: async () => { shutdown('quit command'); return {} }
  }
  const rl = createInterface({ input: process.stdin, terminal: false })
  rl.on('line', (line) => {
    const parts = line.trim().split(/\s+/).filter(Boolean)
    if (parts.length === 0) return
    const [cmd, ...args] = parts
    const fn = commands[cmd]
    if (fn == null) {
      log(`unknown command: ${line}`)
      report({ event: 'cmd_result', cmd, ok: false, error: 'unknown command' })
      return
    }
    // every command runs concurrently; dht-* ones give up on their own after
    // DHT_TIMEOUT_MS (AbortSignal), this is only the backstop
    withTimeout(fn(args), cmd.startsWith('dht-') ? DHT_TIMEOUT_MS + 5_000 : 30_000, cmd).then(
      (res) => report({ event: 'cmd_result', cmd, args, ok: true, ...res }),
      (err) => report({ event: 'cmd_result', cmd, args, ok: false, error: errText(err) })
    )
  })
  rl.on('close', () => { shutdown('stdin closed') })
}

// -------------------------------------------------------------------- dial

async function runDial (values, muxer) {
  if (values.to == null) usage('dial needs --to MULTIADDR')
  const pings = intOpt(values, 'pings', 1)
  const echoBytes = intOpt(values, 'echo-bytes', 0)
  const nStreams = intOpt(values, 'streams', 0)
  const streamBytes = intOpt(values, 'stream-bytes', 1024)
  const holdMs = intOpt(values, 'hold-ms', 0)
  const timeoutMs = intOpt(values, 'timeout-ms', 60_000)
  const streamProtocol = (values['stream-protocol'] ?? 'echo') === 'hash' ? HASH_PROTOCOL : ECHO_PROTOCOL
  let target
  try {
    target = multiaddr(values.to)
  } catch (err) {
    usage(`bad --to multiaddr: ${errText(err)}`)
  }

  const result = {
    connected: false,
    remote_peer: null,
    remote_addr: null,
    muxer: null,
    encryption: null,
    remote_agent: null,
    remote_protocol_version: null,
    remote_protocols: [],
    remote_listen_addrs: [],
    observed_addr: null,
    signed_peer_record: null,
    peer_store: null,
    identify_pushes: [],
    inbound_streams: [],
    ping_rtts_ms: [],
    echo_ok: null,
    streams_ok: null,
    local_peer: null,
    errors: []
  }
  let printed = false
  const finish = async (node, code) => {
    if (printed) return
    printed = true
    emit(result)
    if (node != null) await stopNode(node)
    process.exit(code)
  }

  let node
  const globalTimer = setTimeout(() => {
    result.errors.push(`timeout: run took more than ${timeoutMs} ms`)
    const hard = setTimeout(() => process.exit(3), STOP_TIMEOUT_MS + 1000)
    hard.unref()
    finish(node, 3)
  }, timeoutMs)
  process.on('SIGTERM', () => { result.errors.push('SIGTERM'); finish(node, 143) })
  process.on('SIGINT', () => { result.errors.push('SIGINT'); finish(node, 130) })

  node = await makeNode({ values, mode: 'dial', muxer })
  result.local_peer = node.peerId.toString()
  const { echoHandler, hashHandler } = makeHandlers((ev) => { result.inbound_streams.push(ev) })
  await node.handle(ECHO_PROTOCOL, echoHandler, handlerOptions)
  await node.handle(HASH_PROTOCOL, hashHandler, handlerOptions)
  const identifyConn = watchIdentify(node, (kind, j) => {
    log(`${kind}: ${JSON.stringify(j)}`)
    if (kind === 'identify_push') result.identify_pushes.push(j)
  })
  await node.start()

  let conn
  try {
    conn = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
    Object.assign(result, {
      connected: true,
      remote_peer: conn.remotePeer.toString(),
      remote_addr: conn.remoteAddr.toString(),
      muxer: conn.multiplexer ?? null,
      encryption: conn.encryption ?? null
    })
    log(`connected to ${conn.remotePeer} via ${conn.encryption} + ${conn.multiplexer}`)
  } catch (err) {
    result.errors.push(`dial: ${errText(err)}`)
    clearTimeout(globalTimer)
    return finish(node, 1)
  }

  const step = async (name, fn) => {
    try {
      await fn()
      return true
    } catch (err) {
      log(`${name} failed: ${errText(err)}`)
      result.errors.push(`${name}: ${errText(err)}`)
      return false
    }
  }

  await step('identify', async () => {
    const j = await identifyConn(conn)
    Object.assign(result, {
      remote_agent: j.agent,
      remote_protocol_version: j.protocol_version,
      remote_protocols: j.protocols,
      remote_listen_addrs: j.listen_addrs,
      observed_addr: j.observed_addr,
      signed_peer_record: j.signed_peer_record
    })
  })

  if (pings > 0) {
    await step('ping', async () => {
      result.ping_rtts_ms = await doPings(node, conn.remotePeer, pings)
    })
  }

  if (echoBytes > 0) {
    result.echo_ok = await step('echo', () => checkedStream(conn, ECHO_PROTOCOL, echoBytes))
  }

  if (nStreams > 0) {
    const outcomes = await Promise.allSettled(
      Array.from({ length: nStreams }, () => checkedStream(conn, streamProtocol, streamBytes))
    )
    const failures = outcomes.filter(o => o.status === 'rejected')
    result.streams_ok = failures.length === 0
    for (const f of failures.slice(0, 5)) result.errors.push(`streams: ${errText(f.reason)}`)
    if (failures.length > 5) result.errors.push(`streams: ... ${failures.length} of ${nStreams} streams failed`)
  }

  if (holdMs > 0) {
    await new Promise(resolve => setTimeout(resolve, holdMs))
  }
  result.peer_store = await peerStoreInfo(node, conn.remotePeer)
  if (conn.status !== 'open') result.errors.push(`connection ended early (status ${conn.status})`)

  clearTimeout(globalTimer)
  await finish(node, result.errors.length === 0 ? 0 : 1)
}

// ----------------------------------------------------------- perf contract

const PERF_SEED = '00'.repeat(32) // the fixed identity of test-plans perf servers (as go-libp2p's)

/** `IP:PORT` (or `[IPv6]:PORT`) -> a /ip4|ip6/.../tcp/PORT multiaddr string. */
function tcpAddr (hostPort) {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(hostPort ?? '')
  if (m == null) usage('--server-address must be IP:PORT')
  return `/${m[1].includes(':') ? 'ip6' : 'ip4'}/${m[1]}/tcp/${m[2]}`
}

/**
 * The libp2p test-plans perf contract: `perf --run-server --server-address IP:PORT` serves
 * /perf/1.0.0 with the all-zero-seed Ed25519 identity until SIGTERM/SIGINT; `perf
 * --server-address IP:PORT --transport tcp --upload-bytes N --download-bytes M` runs one exchange
 * and prints {"type": "intermediary"|"final", "timeSeconds", "uploadBytes", "downloadBytes"} lines,
 * one intermediary a second.
 */
async function runPerfContract (values, muxer) {
  const transport = values.transport ?? 'tcp'
  if (transport !== 'tcp' && transport !== 'ws') usage('--transport: tcp or ws')
  const addr = tcpAddr(values['server-address']) + (transport === 'ws' ? '/ws' : '')
  if (values['run-server'] === true) {
    const node = await makeNode({ values: { ...values, 'key-seed': PERF_SEED, 'key-type': 'ed25519', listen: [addr] }, mode: 'listen', muxer })
    await node.handle(PERF_PROTOCOL, perfHandler, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })
    await node.start()
    // the same ready line as `listen` (and as our and go's perf servers)
    emit({ peer_id: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map((a) => a.toString()) })
    const stop = async () => { await stopNode(node); process.exit(0) }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    return
  }
  const upload = intOpt(values, 'upload-bytes', 0)
  const download = intOpt(values, 'download-bytes', 0)
  const node = await makeNode({ values: { ...values, 'key-seed': undefined }, mode: 'dial', muxer })
  await node.start()
  const serverKey = await loadKey({ 'key-seed': PERF_SEED, 'key-type': 'ed25519' })
  const target = multiaddr(`${addr}/p2p/${peerIdFromPrivateKey(serverKey).toString()}`)
  const start = performance.now()
  let sent = 0
  let received = 0
  let lastAt = start
  let lastSent = 0
  let lastReceived = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    emit({ type: 'intermediary', timeSeconds: (now - lastAt) / 1000, uploadBytes: sent - lastSent, downloadBytes: received - lastReceived })
    lastAt = now; lastSent = sent; lastReceived = received
  }, 1000)
  try {
    const conn = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
    const stream = await conn.newStream(PERF_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const reading = consume(stream, (buf) => { received += buf.byteLength })
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(download))
    stream.send(header)
    let n = upload
    while (n > 0) {
      const chunk = n >= PERF_BLOCK ? PERF_ZEROS : PERF_ZEROS.subarray(0, n)
      n -= chunk.byteLength
      sent += chunk.byteLength
      if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
    await stream.close({ signal: AbortSignal.timeout(60_000) })
    await reading
    if (received !== download) throw new Error(`perf: expected ${download} bytes, received ${received}`)
  } catch (err) {
    clearInterval(ticker)
    log(`perf failed: ${errText(err)}`)
    await stopNode(node)
    process.exit(1)
  }
  clearInterval(ticker)
  emit({ type: 'final', timeSeconds: (performance.now() - start) / 1000, uploadBytes: upload, downloadBytes: download })
  await stopNode(node)
  process.exit(0)
}

// -------------------------------------------------------------------- perf

/**
 * The benchmark client (benchmarks/e2e/bench_stack.py): on one connection,
 * `iterations` perf runs uploading `upload-bytes`, then `iterations` runs
 * downloading `download-bytes`, then `pings` round trips on one ping stream;
 * then `dials` times: new connection -> identify starts -> first ping (js's
 * ping service) -> hang up. Prints one JSON line; times in seconds.
 */
async function runPerf (values, muxer) {
  if (values.to == null) usage('perf needs --to MULTIADDR')
  const upload = intOpt(values, 'upload-bytes', 0)
  const download = intOpt(values, 'download-bytes', 0)
  const iterations = intOpt(values, 'iterations', 1)
  const pings = intOpt(values, 'pings', 0)
  const dials = intOpt(values, 'dials', 0)
  const timeoutMs = intOpt(values, 'timeout-ms', 600_000)
  let target
  try {
    target = multiaddr(values.to)
  } catch (err) {
    usage(`bad --to multiaddr: ${errText(err)}`)
  }
  const result = { implementation: 'js-libp2p', muxer: null, upload_bytes: upload, download_bytes: download, upload_seconds: [], download_seconds: [], upload_cpu_seconds: [], download_cpu_seconds: [], ping_rtts: [], dial_seconds: [], dial_ping_seconds: [], errors: [] }
  let node
  let printed = false
  const finish = async (code) => {
    if (printed) return
    printed = true
    result.rusage = process.resourceUsage()
    emit(result)
    if (node != null) await stopNode(node)
    process.exit(code)
  }
  const globalTimer = setTimeout(() => {
    result.errors.push(`timeout: run took more than ${timeoutMs} ms`)
    const hard = setTimeout(() => process.exit(3), STOP_TIMEOUT_MS + 1000)
    hard.unref()
    finish(3)
  }, timeoutMs)
  process.on('SIGTERM', () => { result.errors.push('SIGTERM'); finish(143) })
  process.on('SIGINT', () => { result.errors.push('SIGINT'); finish(130) })

  node = await makeNode({ values, mode: 'dial', muxer })
  await node.handle(PERF_PROTOCOL, perfHandler, { maxInboundStreams: 64, maxOutboundStreams: 64 })
  // identify on every new connection, as our host does
  watchIdentify(node, () => {})
  await node.start()
  try {
    const conn = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
    result.muxer = conn.multiplexer ?? null
    // warm-up: a small run on each path
    if (upload > 0 || download > 0) await perfOnce(conn, Math.min(upload, 1 << 24), Math.min(download, 1 << 24))
    // process CPU time (user + system) per transfer, in seconds
    const cpu = (c0) => { const d = process.cpuUsage(c0); return (d.user + d.system) / 1e6 }
    for (let i = 0; i < iterations && upload > 0; i++) {
      const c0 = process.cpuUsage()
      result.upload_seconds.push(await perfOnce(conn, upload, 0))
      result.upload_cpu_seconds.push(cpu(c0))
    }
    for (let i = 0; i < iterations && download > 0; i++) {
      const c0 = process.cpuUsage()
      result.download_seconds.push(await perfOnce(conn, 0, download))
      result.download_cpu_seconds.push(cpu(c0))
    }
    if (pings > 0) {
      await pingSameStream(conn, Math.min(10, pings)) // warm-up
      result.ping_rtts = await pingSameStream(conn, pings)
    }
    await node.hangUp(conn.remotePeer)
    for (let i = 0; i < dials + 1; i++) {
      const t0 = performance.now()
      const c = await node.dial(target, { signal: AbortSignal.timeout(15_000) })
      const t1 = performance.now()
      await node.services.ping.ping(c.remotePeer, { signal: AbortSignal.timeout(10_000) })
      const t2 = performance.now()
      if (i > 0) { // the first one is a warm-up
        result.dial_seconds.push((t1 - t0) / 1000)
        result.dial_ping_seconds.push((t2 - t0) / 1000)
      }
      await node.hangUp(c.remotePeer)
    }
  } catch (err) {
    log(`perf failed: ${err?.stack ?? errText(err)}`)
    result.errors.push(errText(err))
  }
  clearTimeout(globalTimer)
  await finish(result.errors.length === 0 ? 0 : 1)
}

// -------------------------------------------------------------------- main

async function main () {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        listen: { type: 'string', multiple: true },
        to: { type: 'string' },
        muxer: { type: 'string', default: 'yamux' },
        'key-seed': { type: 'string' },
        'key-type': { type: 'string' },
        agent: { type: 'string' },
        events: { type: 'boolean' },
        'ignore-stdin': { type: 'boolean' },
        'no-connection-monitor': { type: 'boolean' },
        pings: { type: 'string' },
        'echo-bytes': { type: 'string' },
        streams: { type: 'string' },
        'stream-bytes': { type: 'string' },
        'stream-protocol': { type: 'string' },
        'hold-ms': { type: 'string' },
        'timeout-ms': { type: 'string' },
        perf: { type: 'boolean' },
        'upload-bytes': { type: 'string' },
        'download-bytes': { type: 'string' },
        iterations: { type: 'string' },
        dials: { type: 'string' },
        'run-server': { type: 'boolean' },
        'server-address': { type: 'string' },
        transport: { type: 'string' },
        dht: { type: 'string' },
        'dht-no-refresh': { type: 'boolean' },
        pubsub: { type: 'string' },
        'pubsub-sign': { type: 'string' },
        subscribe: { type: 'string', multiple: true }
      }
    })
  } catch (err) {
    usage(err.message)
  }
  const { values, positionals } = parsed
  const mode = positionals[0]
  if (positionals.length !== 1 || !['listen', 'dial', 'perf'].includes(mode)) usage('first argument must be listen, dial or perf')
  const muxer = values.muxer
  if (muxer !== 'yamux' && muxer !== 'mplex') usage('--muxer must be yamux or mplex')
  if (values.dht != null && (mode !== 'listen' || !['server', 'client'].includes(values.dht))) usage('--dht server|client (listen only)')
  if (values['dht-no-refresh'] === true && values.dht == null) usage('--dht-no-refresh needs --dht')
  if (mode === 'listen') await runListen(values, muxer)
  else if (mode === 'perf' && (values['run-server'] === true || values['server-address'] != null)) await runPerfContract(values, muxer)
  else if (mode === 'perf') await runPerf(values, muxer)
  else await runDial(values, muxer)
}

process.on('unhandledRejection', (err) => { log(`unhandled rejection: ${errText(err)}`) })

main().catch((err) => {
  log(`fatal: ${err?.stack ?? errText(err)}`)
  process.exit(1)
})
