// WebSocket echo throughput: CONNS connections each sending MESSAGES messages one at a time.
// Usage: node bench/ws-echo.mjs URL [HOST] → prints messages/s.
import { WebSocket } from 'ws'
const [url, host] = process.argv.slice(2)
const CONNS = Number(process.env.CONNS ?? 20), MESSAGES = Number(process.env.MESSAGES ?? 2000)
const start = performance.now()
await Promise.all(Array.from({ length: CONNS }, () => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, host ? { headers: { host } } : {})
  let n = 0
  ws.on('open', () => ws.send('x'.repeat(64)))
  ws.on('message', () => { if (++n >= MESSAGES) { ws.close(); resolve() } else ws.send('x'.repeat(64)) })
  ws.on('error', reject)
})))
const s = (performance.now() - start) / 1000
console.log(Math.round(CONNS * MESSAGES / s))
