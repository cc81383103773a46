/**
 * The pubsub bench mode of the pubsub role (benchmarks/suites/pubsub_mesh.py), the same
 * commands as the go program's (go/pubsub_bench.go):
 *
 *   pubsub-bench-start TOPIC               count and time messages of TOPIC instead of printing them
 *   pubsub-bench-publish TOPIC COUNT SIZE RATE
 *                                          publish COUNT messages of SIZE bytes at RATE per second
 *                                          (0: as fast as publish resolves); each payload starts with
 *                                          the wall clock (u64 big-endian ns)
 *   pubsub-bench-stats TOPIC [latencies]   received, first_ns, last_ns (and latencies_us)
 */

const HEADER = 8

function nowNs () {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))
}

export function pubsubBench (ps) {
  const counters = new Map()

  /** Count msg when its topic is in bench mode; true means it was taken (not printed). */
  const record = (msg) => {
    const c = counters.get(msg.topic)
    if (c == null) return false
    const now = nowNs()
    c.received++
    if (c.firstNs === 0n) c.firstNs = now
    c.lastNs = now
    const data = msg.data
    if (data.byteLength >= HEADER) {
      const sent = new DataView(data.buffer, data.byteOffset, HEADER).getBigUint64(0)
      c.latenciesUs.push(Number((now - sent) / 1000n))
    }
    return true
  }

  const intArg = (s) => {
    const n = Number(s)
    if (!Number.isFinite(n) || n < 0) throw new Error(`bad number ${JSON.stringify(s)}`)
    return n
  }

  const commands = {
    'pubsub-bench-start': async ([topic]) => {
      counters.set(topic, { received: 0, firstNs: 0n, lastNs: 0n, latenciesUs: [] })
      return { topic }
    },
    'pubsub-bench-stats': async ([topic, latencies]) => {
      const c = counters.get(topic)
      if (c == null) throw new Error(`no pubsub-bench-start for ${topic}`)
      const out = { topic, received: c.received, first_ns: Number(c.firstNs), last_ns: Number(c.lastNs) }
      if (latencies != null) out.latencies_us = [...c.latenciesUs]
      return out
    },
    'pubsub-bench-publish': async ([topic, countS, sizeS, rateS]) => {
      const count = intArg(countS)
      const size = Math.max(HEADER + 4, intArg(sizeS))
      const rate = intArg(rateS ?? '0')
      const start = performance.now()
      for (let i = 0; i < count; i++) {
        if (rate > 0) {
          const wait = start + (i / rate) * 1000 - performance.now()
          if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
        }
        const data = new Uint8Array(size)
        const view = new DataView(data.buffer)
        view.setUint32(HEADER, i)
        view.setBigUint64(0, nowNs())
        await ps.publish(topic, data)
      }
      return { topic, published: count, seconds: (performance.now() - start) / 1000 }
    }
  }
  return { record, commands }
}
