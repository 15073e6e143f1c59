// CPU per request of the Node function runtime against a plain node:http app (config/examples/app/hello.mjs):
// sequential keep-alive GETs, CPU read from /proc/<pid>/stat (Linux). From the project root:
//   node test/functions/bench-cpu.mjs        (N=10000 by default)
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
const N = Number(process.env.N ?? 10000)
const clk = 100
function cpu(pid) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 1000 / clk }
async function measure(label, args, port) {
  const c = spawn(process.execPath, args, { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const get = (p) => new Promise((res, rej) => http.get({ host: '127.0.0.1', port, path: p, agent }, (r) => { r.resume(); r.on('end', () => res(r.statusCode)) }).on('error', rej))
  for (;;) { try { await get('/'); break } catch { await new Promise((r) => setTimeout(r, 50)) } }
  for (let i = 0; i < 1000; i++) await get('/?name=warm')
  const before = cpu(c.pid)
  for (let i = 0; i < N; i++) await get('/?name=Ada')
  const ms = cpu(c.pid) - before
  c.kill('SIGKILL'); agent.destroy()
  console.log(`${label}: ${(ms * 1000 / N).toFixed(1)} µs CPU/request (${N} requests)`)
  return ms
}
const a = await measure('plain node:http (hello.mjs)', ['config/examples/app/hello.mjs'], 18801)
const b = await measure('function runtime (minimal handler)', ['control/functions/runtime/node-runtime.mjs', 'test/functions/fixtures/minimal-function'], 18802)
console.log(`ratio ${(b / a).toFixed(2)}x`)
