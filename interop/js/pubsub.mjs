/**
 * The pubsub role of `listen` (--pubsub gossipsub|floodsub [--pubsub-sign strict|none]
 * [--subscribe TOPIC]...): @libp2p/gossipsub or @libp2p/floodsub as the service
 * `pubsub`, the pubsub-* stdin commands and the pubsub-message / pubsub-peers
 * event lines. See README.md, "pubsub".
 *
 * Message ids, the same in every interop peer program and in aiolibp2p's tests:
 * StrictSign: from (the author's peer id bytes) + seqno (8 bytes, big-endian), go's
 * default. js's own default differs (the protobuf public key instead of the peer
 * id bytes), so it is replaced. StrictNoSign: sha256(data), js's default.
 * @libp2p/floodsub has no message-id option; its ids never leave the node.
 */

import { createHash } from 'node:crypto'
import { floodsub } from '@libp2p/floodsub'
import { gossipsub } from '@libp2p/gossipsub'
import { pubsubBench } from './pubsub_bench.mjs'

const WATCH_INTERVAL_MS = 100

function usage (msg) {
  process.stderr.write(`error: ${msg}\n`)
  process.exit(2)
}

/** The checked pubsub options of `values`, or null without --pubsub. */
export function pubsubOptions (values) {
  const subscribe = values.subscribe ?? []
  if (values.pubsub == null) {
    if (values['pubsub-sign'] != null || subscribe.length > 0) usage('--pubsub-sign and --subscribe need --pubsub gossipsub|floodsub')
    return null
  }
  if (values.pubsub !== 'gossipsub' && values.pubsub !== 'floodsub') usage('--pubsub must be gossipsub or floodsub')
  const sign = values['pubsub-sign'] ?? 'strict'
  if (sign !== 'strict' && sign !== 'none') usage('--pubsub-sign must be strict or none')
  return { router: values.pubsub, sign, subscribe }
}

// Buffer.from(s, 'base64') skips characters it does not know: check first, as the other programs do
function base64Arg (s) {
  if (s == null) return new Uint8Array(0)
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`bad base64 ${JSON.stringify(s)}`)
  return new Uint8Array(Buffer.from(s, 'base64'))
}

function seqnoBytes (seqno) {
  return Buffer.from(seqno.toString(16).padStart(16, '0'), 'hex')
}

function fromSeqnoMsgId (msg) {
  if (msg.type !== 'signed') throw new Error('expected a signed message')
  return new Uint8Array(Buffer.concat([msg.from.toMultihash().bytes, seqnoBytes(msg.sequenceNumber)]))
}

function contentMsgId (msg) {
  return new Uint8Array(createHash('sha256').update(msg.data).digest())
}

/** The libp2p service factory for `init.services.pubsub`. */
export function pubsubService (o) {
  const globalSignaturePolicy = o.sign === 'strict' ? 'StrictSign' : 'StrictNoSign'
  if (o.router === 'floodsub') {
    return floodsub({ globalSignaturePolicy, emitSelf: false, canRelayMessage: true })
  }
  return gossipsub({
    globalSignaturePolicy,
    msgIdFn: o.sign === 'strict' ? fromSeqnoMsgId : contentMsgId,
    emitSelf: false,
    // no network beyond the test's own peers
    doPX: false
  })
}

function messageJson (msg, received, msgIdHex) {
  const signed = msg.type === 'signed'
  return {
    event: 'pubsub-message',
    topic: msg.topic,
    from: signed ? msg.from.toString() : null,
    seqno: signed && msg.sequenceNumber != null ? seqnoBytes(msg.sequenceNumber).toString('hex') : null,
    data_base64: Buffer.from(msg.data).toString('base64'),
    message_id: msgIdHex,
    received_from: received
  }
}

/**
 * Start the role on a started node: print messages, watch mesh/subscribers, join
 * the --subscribe topics. Returns the stdin commands.
 */
export function startPubsub (node, o, report) {
  const ps = node.services.pubsub
  const topics = new Set()
  const reported = new Map()
  const bench = pubsubBench(ps)

  if (o.router === 'gossipsub') {
    ps.addEventListener('gossipsub:message', (evt) => {
      const { propagationSource, msgId, msg } = evt.detail
      if (!topics.has(msg.topic) || bench.record(msg)) return
      report(messageJson(msg, propagationSource.toString(), Buffer.from(msgId, 'base64').toString('hex')))
    })
  } else {
    ps.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (!topics.has(msg.topic)) return
      let id = null
      if (msg.type === 'signed') id = Buffer.from(fromSeqnoMsgId(msg)).toString('hex')
      report(messageJson(msg, null, id))
    })
  }

  const peersJson = (topic) => {
    const subscribers = ps.getSubscribers(topic).map(p => p.toString()).sort()
    // floodsub has no mesh: every subscriber gets every message
    const mesh = o.router === 'gossipsub' ? [...ps.getMeshPeers(topic)].sort() : subscribers
    return { topic, mesh, subscribers }
  }

  const timer = setInterval(() => {
    for (const topic of [...topics].sort()) {
      const j = peersJson(topic)
      const key = JSON.stringify(j)
      if (reported.get(topic) !== key) {
        reported.set(topic, key)
        report({ event: 'pubsub-peers', ...j })
      }
    }
  }, WATCH_INTERVAL_MS)
  timer.unref()

  const subscribe = (topic) => {
    ps.subscribe(topic)
    topics.add(topic)
    return { topic }
  }
  for (const t of o.subscribe) subscribe(t)

  const needTopic = (topic) => { if (topic == null) throw new Error('missing TOPIC argument') }
  return {
    ...bench.commands,
    'pubsub-subscribe': async ([topic]) => { needTopic(topic); return subscribe(topic) },
    'pubsub-unsubscribe': async ([topic]) => {
      needTopic(topic)
      if (!topics.has(topic)) throw new Error(`not subscribed to ${topic}`)
      ps.unsubscribe(topic)
      topics.delete(topic)
      reported.delete(topic)
      return { topic }
    },
    'pubsub-publish': async ([topic, dataB64]) => {
      needTopic(topic)
      const r = await ps.publish(topic, base64Arg(dataB64))
      return { topic, recipients: (r?.recipients ?? []).map(p => p.toString()).sort() }
    },
    'pubsub-peers': async ([topic]) => { needTopic(topic); return peersJson(topic) }
  }
}

/** Without --pubsub: every pubsub-* command fails. */
export function noPubsubCommands () {
  const fail = async () => { throw new Error('no pubsub: start with --pubsub gossipsub|floodsub') }
  return Object.fromEntries(['pubsub-subscribe', 'pubsub-unsubscribe', 'pubsub-publish', 'pubsub-peers'].map(c => [c, fail]))
}
