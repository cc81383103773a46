// The libp2p transport-interop test application on js-libp2p 3.x (the node of peer.mjs, reduced to
// TCP + Noise + Yamux|Mplex + identify + ping). Configured by environment variables only, in the
// two dialects go-libp2p's app (interop/go/interop.go) and ours (libp2p/cli/interop.py) read:
//
//  * libp2p/test-plans transport-interop: transport, muxer, security, is_dialer, ip (0.0.0.0),
//    redis_addr (redis:6379), test_timeout_seconds (180); Redis list "listenerAddr"; the dialer
//    prints {"handshakePlusOneRTTMillis": f, "pingRTTMilllis": f} (three l's).
//  * libp2p/unified-testing transport (when IS_DIALER is set): TRANSPORT, SECURE_CHANNEL, MUXER,
//    IS_DIALER, LISTENER_IP (0.0.0.0), REDIS_ADDR + TEST_KEY (required), TEST_TIMEOUT_SECS (180);
//    list "<TEST_KEY>_listener_multiaddr" (DEL + RPUSH / BLPOP); the dialer prints YAML.
//
// Supported: tcp + noise|tls + yamux|mplex (anything else exits 1). Logs go to stderr. Redis is spoken
// to with a minimal RESP client on node:net (no dependency beyond peer.mjs's).
//
//   node transport-interop.mjs        (from the directory ci/install_js_peer.sh prints)
import './polyfill.mjs'

import { connect } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { tls } from '@libp2p/tls'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

function log (...args) {
  console.error('[js transport-interop]', ...args)
}

function fail (msg) {
  log(msg)
  process.exit(1)
}

// ------------------------------------------------------------------ configuration

function readConfig () {
  const env = process.env
  const unified = env.IS_DIALER !== undefined
  const get = (upper, lower, dflt) => {
    const v = (env[unified ? upper : lower] ?? '').trim()
    return v === '' ? dflt : v
  }
  const c = {
    unified,
    transport: get('TRANSPORT', 'transport', ''),
    muxer: get('MUXER', 'muxer', ''),
    security: get('SECURE_CHANNEL', 'security', ''),
    isDialer: get('IS_DIALER', 'is_dialer', 'false') === 'true',
    ip: get('LISTENER_IP', 'ip', '0.0.0.0')
  }
  const secs = Number(get('TEST_TIMEOUT_SECS', 'test_timeout_seconds', '180'))
  if (!(secs > 0)) throw new Error('bad test timeout')
  c.timeoutMs = secs * 1000
  if (unified) {
    const addr = (env.REDIS_ADDR ?? '').trim()
    const key = (env.TEST_KEY ?? '').trim()
    if (addr === '' || key === '') throw new Error('REDIS_ADDR and TEST_KEY are required')
    c.redisAddr = addr
    c.redisKey = `${key}_listener_multiaddr`
  } else {
    c.redisAddr = get('', 'redis_addr', 'redis:6379')
    c.redisKey = 'listenerAddr'
  }
  if (c.transport !== 'tcp') throw new Error(`transport "${c.transport}" is not supported (tcp only)`)
  if (c.muxer !== 'yamux' && c.muxer !== 'mplex') throw new Error(`muxer "${c.muxer}" is not supported (yamux or mplex)`)
  if (c.security !== 'noise' && c.security !== 'tls') throw new Error(`security "${c.security}" is not supported (noise or tls)`)
  return c
}

// ------------------------------------------------------------------ a minimal RESP2 client

class Redis {
  static open (addr, timeoutMs) {
    const i = addr.lastIndexOf(':')
    const host = i < 0 ? addr : addr.slice(0, i).replace(/^\[|\]$/g, '')
    const port = i < 0 ? 6379 : Number(addr.slice(i + 1))
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port })
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`connect to Redis ${addr} timed out`)) }, timeoutMs)
      sock.once('error', (err) => { clearTimeout(timer); reject(err) })
      sock.once('connect', () => { clearTimeout(timer); resolve(new Redis(sock)) })
    })
  }

  constructor (sock) {
    this.sock = sock
    this.buf = Buffer.alloc(0)
    this.waiters = []
    this.closed = null
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain() })
    const onEnd = (err) => {
      this.closed = err ?? new Error('Redis connection closed')
      for (const w of this.waiters.splice(0)) w.reject(this.closed)
    }
    sock.on('error', onEnd)
    sock.on('close', () => onEnd())
  }

  close () { this.sock.destroy() }

  // parse one reply at `pos`; returns [value, next] or null when incomplete
  parse (pos) {
    const eol = this.buf.indexOf('\r\n', pos)
    if (eol < 0) return null
    const kind = String.fromCharCode(this.buf[pos])
    const rest = this.buf.toString('utf8', pos + 1, eol)
    const next = eol + 2
    switch (kind) {
      case '+': return [rest, next]
      case '-': return [new Error(rest), next]
      case ':': return [Number(rest), next]
      case '$': {
        const n = Number(rest)
        if (n < 0) return [null, next]
        if (this.buf.length < next + n + 2) return null
        return [this.buf.toString('utf8', next, next + n), next + n + 2]
      }
      case '*': {
        const n = Number(rest)
        if (n < 0) return [null, next]
        const items = []
        let p = next
        for (let k = 0; k < n; k++) {
          const r = this.parse(p)
          if (r == null) return null
          items.push(r[0])
          p = r[1]
        }
        return [items, p]
      }
      default: throw new Error(`bad Redis reply ${JSON.stringify(this.buf.toString('utf8', pos, eol))}`)
    }
  }

  drain () {
    while (this.waiters.length > 0) {
      const r = this.parse(0)
      if (r == null) return
      this.buf = this.buf.subarray(r[1])
      const w = this.waiters.shift()
      if (r[0] instanceof Error) w.reject(r[0])
      else w.resolve(r[0])
    }
  }

  command (args, timeoutMs = 10_000) {
    if (this.closed != null) return Promise.reject(this.closed)
    const parts = [`*${args.length}\r\n`]
    for (const a of args) parts.push(`$${Buffer.byteLength(String(a))}\r\n${a}\r\n`)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close()
        reject(new Error(`Redis ${args[0]} got no reply within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.push({
        resolve: (v) => { clearTimeout(timer); resolve(v) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.sock.write(parts.join(''))
    })
  }
}

async function redisWhenReady (addr, deadline) {
  for (;;) {
    try {
      const r = await Redis.open(addr, Math.max(100, Math.min(deadline - Date.now(), 10_000)))
      if (await r.command(['PING']) === 'PONG') return r
      r.close()
    } catch (err) {
      if (Date.now() + 100 >= deadline) throw new Error(`Redis at ${addr} unreachable: ${err.message}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// ------------------------------------------------------------------ the app

function isLoopback (ma) {
  const s = ma.toString()
  return s.startsWith('/ip4/127.') || s.startsWith('/ip6/::1/')
}

async function main () {
  let cfg
  try {
    cfg = readConfig()
  } catch (err) {
    fail(`config: ${err.message}`)
  }
  const deadline = Date.now() + cfg.timeoutMs
  const redis = await redisWhenReady(cfg.redisAddr, deadline)
  const proto = cfg.ip.includes(':') ? 'ip6' : 'ip4'
  const node = await createLibp2p({
    addresses: { listen: cfg.isDialer ? [] : [`/${proto}/${cfg.ip}/tcp/0`] },
    transports: [tcp()],
    connectionEncrypters: [cfg.security === 'tls' ? tls() : noise()],
    streamMuxers: [cfg.muxer === 'yamux' ? yamux() : mplex()],
    peerDiscovery: [],
    connectionMonitor: { enabled: false },
    connectionManager: { inboundConnectionThreshold: 100_000, reconnectRetries: 0 },
    services: { identify: identify(), ping: ping() }
  })
  log(`${cfg.unified ? 'unified-testing' : 'test-plans'} dialect: ${node.peerId}, tcp/${cfg.security}/${cfg.muxer}, ` +
      `dialer=${cfg.isDialer}, Redis ${cfg.redisAddr}`)
  const stop = async (code) => {
    redis.close()
    await Promise.race([node.stop(), new Promise((resolve) => setTimeout(resolve, 3000))]).catch(() => {})
    process.exit(code)
  }

  if (!cfg.isDialer) {
    const addrs = node.getMultiaddrs()
    const loopbackWanted = cfg.ip.startsWith('127.') || cfg.ip === '::1'
    const addr = addrs.find((a) => loopbackWanted || !isLoopback(a)) ?? addrs[0]
    if (addr == null) fail('no listen address')
    if (cfg.unified) await redis.command(['DEL', cfg.redisKey])
    await redis.command(['RPUSH', cfg.redisKey, addr.toString()])
    log(`published ${addr} under ${cfg.redisKey}; waiting (up to ${cfg.timeoutMs / 1000} s)`)
    const done = () => { stop(0) }
    process.once('SIGTERM', done)
    process.once('SIGINT', done)
    setTimeout(done, Math.max(0, deadline - Date.now()))
    return
  }

  const sigFail = () => { log('stopped by signal'); stop(1) }
  process.once('SIGTERM', sigFail)
  process.once('SIGINT', sigFail)
  let value
  try {
    const reply = await redis.command(['BLPOP', cfg.redisKey, ((deadline - Date.now()) / 1000).toFixed(3)],
      deadline - Date.now() + 10_000)
    value = reply?.[1]
  } catch (err) {
    if (!(cfg.unified && err.message.startsWith('WRONGTYPE'))) throw err
    value = await redis.command(['GET', cfg.redisKey])
  }
  if (value == null) fail(`no listener address under ${cfg.redisKey} within ${cfg.timeoutMs / 1000} s`)
  log(`dialing ${value}`)
  const ma = multiaddr(value.trim())
  const signal = AbortSignal.timeout(Math.max(1000, deadline - Date.now()))
  const start = performance.now()
  await node.dial(ma, { signal })
  const pingStart = performance.now()
  await node.services.ping.ping(ma, { signal })
  const end = performance.now()
  // js's ping service reports whole milliseconds: time it here instead
  const total = Math.round((end - start) * 1000) / 1000
  const rtt = Math.round((end - pingStart) * 1000) / 1000
  if (cfg.unified) {
    process.stdout.write(`# Measurements from dialer\nlatency:\n  handshake_plus_one_rtt: ${total}\n  ping_rtt: ${rtt}\n  unit: ms\n`)
  } else {
    process.stdout.write(JSON.stringify({ handshakePlusOneRTTMillis: total, pingRTTMilllis: rtt }) + '\n')
  }
  log(`handshake plus one RTT ${total} ms, ping RTT ${rtt} ms`)
  await stop(0)
}

main().catch((err) => fail(`${err.name ?? 'Error'}: ${err.message ?? err}`))
