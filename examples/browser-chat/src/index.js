// A browser peer: js-libp2p with the WebSocket transport, Noise, yamux, identify, ping and
// gossipsub. It dials the multiaddr given as ?peer=/ip4/…/tcp/N/ws/p2p/<id>, identifies and pings
// it, joins the gossipsub topic ?topic= (default "aiolibp2p-chat") and chats there with
// `libp2p chat` users: each line typed in the form is published, each message received is shown.
// Messages use the JSON of go-libp2p's pubsub chat example ({Message, SenderID, SenderNick}), as
// `libp2p chat` does. What happened is also kept in window.result (tests read it over DevTools).
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const params = new URLSearchParams(window.location.search)
const topic = params.get('topic') ?? 'aiolibp2p-chat'
const result = {
  peerId: null, dialed: null, identified: null, pingMs: null, error: null,
  topic, chatReady: false, sent: [], received: []
}
window.result = result

function show (line, cls = 'log') {
  const li = document.createElement('li')
  li.className = cls
  li.textContent = line
  document.getElementById('log').appendChild(li)
}

// StrictSign message id as go-libp2p and aiolibp2p compute it: the author's peer id bytes followed
// by the 8-byte big-endian seqno (js's default would use the public key instead of the peer id).
function fromSeqnoMsgId (msg) {
  if (msg.type !== 'signed') throw new Error('expected a signed message')
  const from = msg.from.toMultihash().bytes
  const id = new Uint8Array(from.length + 8)
  id.set(from)
  new DataView(id.buffer).setBigUint64(from.length, BigInt.asUintN(64, msg.sequenceNumber))
  return id
}

function chatText (data) {
  const raw = new TextDecoder().decode(data)
  try {
    const body = JSON.parse(raw)
    if (body != null && typeof body.Message === 'string') return { text: body.Message, nick: body.SenderNick ?? '' }
  } catch {}
  return { text: raw, nick: '' }
}

async function main () {
  const target = params.get('peer')
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a page on a LAN or localhost dials private addresses (denied by default in browsers)
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign', // as `libp2p chat`: every message signed and checked
        msgIdFn: fromSeqnoMsgId,
        emitSelf: false,
        // the page shows its own lines itself; with one peer, publishing before the mesh forms is
        // fine because flood publishing (on by default) sends to every subscriber of the topic
        floodPublish: true,
        doPX: false
      })
    }
  })
  const nick = params.get('nick') ?? `browser-${node.peerId.toString().slice(-6)}`
  result.peerId = node.peerId.toString()
  show(`this page is ${node.peerId} (nick ${nick})`)
  if (target == null) {
    show('add ?peer=<multiaddr of a Python node\'s /ws address>&topic=<topic> to the URL')
    return
  }
  const pubsub = node.services.pubsub
  pubsub.subscribe(topic)
  pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail
    if (msg.topic !== topic) return
    const { text, nick: senderNick } = chatText(msg.data)
    const from = msg.type === 'signed' ? msg.from.toString() : ''
    result.received.push({ from, nick: senderNick, text })
    show(`${senderNick || from.slice(-8)}: ${text}`, 'msg')
  })

  const identified = new Promise((resolve) => {
    node.addEventListener('peer:identify', (evt) => resolve(evt.detail))
  })
  const ma = multiaddr(target)
  show(`dialing ${ma}`)
  const conn = await node.dial(ma, { signal: AbortSignal.timeout(20_000) })
  const remote = conn.remotePeer
  result.dialed = remote.toString()
  show(`connected to ${remote} (${conn.multiplexer ?? 'muxer'}, ${conn.encryption ?? 'security'})`)
  const info = await Promise.race([identified, new Promise((_, reject) => setTimeout(() => reject(new Error('identify timed out')), 20_000))])
  result.identified = { peerId: info.peerId.toString(), agentVersion: info.agentVersion, protocols: info.protocols }
  show(`identified: ${info.agentVersion}; protocols ${info.protocols.join(', ')}`)
  result.pingMs = await node.services.ping.ping(ma, { signal: AbortSignal.timeout(20_000) })
  show(`ping: ${result.pingMs} ms`)

  // the chat is ready once the Python node's subscription to the topic has arrived
  const deadline = Date.now() + 20_000
  while (!pubsub.getSubscribers(topic).some((p) => p.equals(remote))) {
    if (Date.now() > deadline) throw new Error(`${remote} did not join ${topic} within 20 s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const form = document.getElementById('chat')
  const input = document.getElementById('text')
  form.addEventListener('submit', (evt) => {
    evt.preventDefault()
    const text = input.value.trim()
    input.value = ''
    if (text === '') return
    const body = JSON.stringify({ Message: text, SenderID: node.peerId.toString(), SenderNick: nick })
    pubsub.publish(topic, new TextEncoder().encode(body)).then((res) => {
      result.sent.push({ text, recipients: res.recipients.map((p) => p.toString()) })
      show(`${nick} (me): ${text}`, 'mine')
    }, (err) => {
      result.sent.push({ text, error: String(err) })
      show(`could not send: ${err}`, 'error')
    })
  })
  input.disabled = false
  form.querySelector('button').disabled = false
  input.focus()
  result.chatReady = true
  show(`chatting on "${topic}" with ${remote}`)
}

main().catch((err) => {
  result.error = String(err?.stack ?? err)
  show(`error: ${err}`, 'error')
})
