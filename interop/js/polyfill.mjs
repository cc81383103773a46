// Polyfills for Node.js 20. js-libp2p 3.x calls Promise.withResolvers (ES2024,
// Node >= 22). Imported first by peer.mjs; also usable as `node --import`.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
