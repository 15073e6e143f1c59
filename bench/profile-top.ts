// Where the time goes in a V8 CPU profile (.cpuprofile, from node --cpu-prof): the top frames by
// self time and the self time summed by area (Node's HTTP server and net, undici, Sluice's gateway,
// GC, idle…), and Sluice's own functions by total time. On profiles taken under the peer bench:
//
//   BENCH_PROFILE=/tmp/prof PEERS=sluice node bench/peers.ts
//   node bench/profile-top.ts /tmp/prof/sluice.cpuprofile [TOP (25)]
//
// Shares are of the busy time (idle and start-up module loading left out); paths are shown
// relative to the project (or to node_modules).
import { readFileSync } from 'node:fs'
import { ROOT, table } from './lib.ts'

interface Frame { functionName: string; url: string; lineNumber: number }
interface Node { id: number; callFrame: Frame; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: node bench/profile-top.ts FILE.cpuprofile [TOP]')
  process.exit(2)
}
const top = Number(process.argv[3] ?? 25)
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(prof.nodes.map((n) => [n.id, n]))

function short(url: string): string {
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  if (url.startsWith(`file://${ROOT}/`)) return url.slice(`file://${ROOT}/`.length)
  return url
}

function area(f: Frame): string {
  const u = short(f.url)
  if (f.functionName === '(idle)') return 'idle'
  if (f.functionName === '(garbage collector)') return 'GC'
  if (f.functionName === '(program)') return 'V8/native (program)'
  if (u.startsWith('undici/') || u.startsWith('wasm:')) return 'undici (JS + its llhttp wasm)'
  if (/^node:(_http|http)/.test(u)) return 'node:http (JS)'
  if (/^node:(net|stream|internal\/streams|internal\/stream_base)/.test(u)) return 'node:net + streams'
  if (/^node:(events|internal\/process\/task_queues|internal\/timers|timers)/.test(u)) return 'node: events, ticks, timers'
  if (/^node:(buffer|internal\/buffer)/.test(u)) return 'node: buffers'
  if (/^node:internal\/crypto/.test(u)) return 'node: crypto (request ids)'
  if (u.startsWith('node:')) return 'node: other'
  if (u.startsWith('prom-client/')) return 'prom-client'
  if (u === '') return 'native (writev, llhttp, string/buffer builtins)'
  if (u.startsWith('file:') || u.includes('/')) {
    const top = u.split('/')[0]!
    if (top === 'bench') return 'the peer\'s own code (bench/)'
    return ['gateway', 'control', 'lib', 'plugins', 'bin'].includes(top) ? `sluice ${top}/` : 'other'
  }
  return 'other'
}

// Start-up is not the request path: samples under the module loader (or TypeScript stripping) are
// left out, and so is idle time.
const loading = (f: Frame): boolean => f.url.startsWith('node:internal/modules/') || f.url.includes('amaro')
const parent = new Map<number, number>()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const ancestors = (id: number): Node[] => {
  const out: Node[] = []
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!)
  return out
}
const underLoader = new Map<number, boolean>()
for (const n of prof.nodes) underLoader.set(n.id, ancestors(n.id).some((a) => loading(a.callFrame)))

const self = new Map<number, number>()
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0))

const frames = new Map<string, { frame: Frame; us: number }>()
const inclusive = new Map<string, { frame: Frame; us: number }>() // Sluice's own functions, callees included
const areas = new Map<string, number>()
const keyOf = (f: Frame): string => `${f.functionName}|${f.url}|${f.lineNumber}`
let busy = 0
let idle = 0
let startup = 0
for (const [id, us] of self) {
  const n = byId.get(id)!
  const f = n.callFrame
  const a = area(f)
  if (a === 'idle') { idle += us; continue }
  if (underLoader.get(id)) { startup += us; continue }
  busy += us
  areas.set(a, (areas.get(a) ?? 0) + us)
  const e = frames.get(keyOf(f)) ?? { frame: f, us: 0 }
  e.us += us
  frames.set(keyOf(f), e)
  const seen = new Set<string>()
  for (const anc of ancestors(id)) {
    const k = keyOf(anc.callFrame)
    if (seen.has(k) || !area(anc.callFrame).startsWith('sluice ')) continue
    seen.add(k)
    const i = inclusive.get(k) ?? { frame: anc.callFrame, us: 0 }
    i.us += us
    inclusive.set(k, i)
  }
}

const pct = (us: number): string => `${((us * 100) / busy).toFixed(1)}%`
console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s, start-up (module loading, left out) ${(startup / 1e6).toFixed(2)} s; shares are of busy time\n`)
console.log(table(['area', 'self', 'share'], [...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => [a, `${(us / 1e3).toFixed(0)} ms`, pct(us)])))
console.log()
console.log(table(['function', 'where', 'area', 'self', 'share'], [...frames.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => [
  e.frame.functionName || '(anonymous)', e.frame.url ? `${short(e.frame.url)}:${e.frame.lineNumber + 1}` : '', area(e.frame), `${(e.us / 1e3).toFixed(0)} ms`, pct(e.us),
])))
if (inclusive.size > 0) {
  console.log()
  console.log('Sluice functions by total time (their callees included):')
  console.log(table(['function', 'where', 'total', 'share'], [...inclusive.values()].sort((a, b) => b.us - a.us).slice(0, 15).map((e) => [
    e.frame.functionName || '(anonymous)', `${short(e.frame.url)}:${e.frame.lineNumber + 1}`, `${(e.us / 1e3).toFixed(0)} ms`, pct(e.us),
  ])))
}
