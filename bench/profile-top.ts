// Where the time goes in a V8 CPU profile (.cpuprofile, from node --cpu-prof): the top frames by
// self time and the self time summed by area (Node's HTTP server and net, undici, Sluice's gateway,
// GC, idle…). Used on a profile of Sluice under the peer bench:
//
//   BENCH_PROFILE=/tmp/prof PEERS=sluice node bench/peers.ts
//   node bench/profile-top.ts /tmp/prof/CPU.*.cpuprofile [TOP=25]
//
// Shares are of the busy time (idle excluded); paths are shown relative to the project.
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
  if (url.startsWith(`file://${ROOT}/`)) return url.slice(`file://${ROOT}/`.length)
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  return url
}

function area(f: Frame): string {
  const u = short(f.url)
  if (f.functionName === '(idle)') return 'idle'
  if (f.functionName === '(garbage collector)') return 'GC'
  if (f.functionName === '(program)') return 'V8/native (program)'
  if (u.startsWith('undici/')) return 'undici'
  if (/^node:(_http|http)/.test(u)) return 'node:http'
  if (/^node:(net|stream|internal\/streams|internal\/stream_base)/.test(u)) return 'node:net + streams'
  if (u.startsWith('node:')) return 'node: other'
  if (u.startsWith('gateway/')) return 'sluice gateway/'
  if (u.startsWith('prom-client/')) return 'prom-client'
  if (u === '') return 'native (builtins, no URL)'
  if (!u.includes('/node_modules/') && !u.startsWith('file:')) return `sluice ${u.split('/')[0]}/`
  return 'other'
}

const self = new Map<number, number>()
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0))

const frames = new Map<string, { frame: Frame; us: number }>()
const areas = new Map<string, number>()
let busy = 0
let idle = 0
for (const [id, us] of self) {
  const n = byId.get(id)!
  const f = n.callFrame
  const a = area(f)
  if (a === 'idle') { idle += us; continue }
  busy += us
  areas.set(a, (areas.get(a) ?? 0) + us)
  const key = `${f.functionName}|${f.url}|${f.lineNumber}`
  const e = frames.get(key) ?? { frame: f, us: 0 }
  e.us += us
  frames.set(key, e)
}

const pct = (us: number): string => `${((us * 100) / busy).toFixed(1)}%`
console.log(`${file}: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s (shares below are of busy time)\n`)
console.log(table(['area', 'self', 'share'], [...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => [a, `${(us / 1e3).toFixed(0)} ms`, pct(us)])))
console.log()
console.log(table(['function', 'where', 'area', 'self', 'share'], [...frames.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => [
  e.frame.functionName || '(anonymous)', e.frame.url ? `${short(e.frame.url)}:${e.frame.lineNumber + 1}` : '', area(e.frame), `${(e.us / 1e3).toFixed(0)} ms`, pct(e.us),
])))
