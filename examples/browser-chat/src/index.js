// A browser peer: js-libp2p with the WebSocket transport, Noise, yamux, identify and ping. It dials
// the multiaddr given as ?peer=/ip4/…/tcp/N/ws/p2p/<id>, identifies and pings it, and shows what
// happened on the page and in window.result (which tests read over the DevTools protocol).
// Gossipsub chat with `libp2p chat` users comes with the pubsub work.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const result = { peerId: null, dialed: null, identified: null, pingMs: null, error: null }
window.result = result

function show (line) {
  const li = document.createElement('li')
  li.textContent = line
  document.getElementById('log').appendChild(li)
}

async function main () {
  const target = new URLSearchParams(window.location.search).get('peer')
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a page on a LAN or localhost dials private addresses (denied by default in browsers)
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), ping: ping() }
  })
  result.peerId = node.peerId.toString()
  show(`this page is ${node.peerId}`)
  if (target == null) {
    show('add ?peer=<multiaddr of a Python node\'s /ws address> to the URL')
    return
  }
  const identified = new Promise((resolve) => {
    node.addEventListener('peer:identify', (evt) => resolve(evt.detail))
  })
  const ma = multiaddr(target)
  show(`dialing ${ma}`)
  const conn = await node.dial(ma, { signal: AbortSignal.timeout(20_000) })
  result.dialed = conn.remotePeer.toString()
  show(`connected to ${conn.remotePeer} (${conn.multiplexer ?? 'muxer'}, ${conn.encryption ?? 'security'})`)
  const info = await Promise.race([identified, new Promise((_, reject) => setTimeout(() => reject(new Error('identify timed out')), 20_000))])
  result.identified = { peerId: info.peerId.toString(), agentVersion: info.agentVersion, protocols: info.protocols }
  show(`identified: ${info.agentVersion}; protocols ${info.protocols.join(', ')}`)
  result.pingMs = await node.services.ping.ping(ma, { signal: AbortSignal.timeout(20_000) })
  show(`ping: ${result.pingMs} ms`)
}

main().catch((err) => {
  result.error = String(err?.stack ?? err)
  show(`error: ${err}`)
})
