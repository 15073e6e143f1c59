// With tracing off the OpenTelemetry SDK is never loaded: only gateway/tracing/otel-tracer.ts and
// the export thread's two files import it; otel-tracer.ts is reached only through tracing.ts's
// dynamic import, export-thread.ts only as a worker's entry (by URL), and nothing the CLI imports
// statically leads to any of them. Checked on the sources (every static import of every file under
// bin/, lib/, gateway/, control/, plugins/).
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from '../fixtures/sluice.ts'

function files(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out.push(...files(p))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

const STATIC_IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm

const SDK_SIDE = ['gateway/tracing/export-thread.ts', 'gateway/tracing/otel-tracer.ts', 'gateway/tracing/thread-exporter.ts']

t.test('the SDK is imported by otel-tracer.ts and the export thread alone, which nothing imports statically', async (t) => {
  const all = ['bin', 'lib', 'gateway', 'control', 'plugins'].flatMap((d) => files(path.join(ROOT, d)))
  const sdkUsers: string[] = []
  const importers = new Map<string, string[]>()
  const graph = new Map<string, string[]>()
  for (const f of all) {
    const src = readFileSync(f, 'utf8')
    const rel = path.relative(ROOT, f)
    graph.set(rel, [])
    for (const m of src.matchAll(STATIC_IMPORT)) {
      const spec = m[1]!
      if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue
      if (spec.startsWith('@opentelemetry/')) sdkUsers.push(rel)
      if (!spec.startsWith('.')) continue
      const to = path.relative(ROOT, path.resolve(path.dirname(f), spec))
      graph.get(rel)!.push(to)
      importers.set(to, [...(importers.get(to) ?? []), rel])
    }
  }
  t.same([...new Set(sdkUsers)].sort(), SDK_SIDE)
  t.same(importers.get('gateway/tracing/otel-tracer.ts'), ['gateway/tracing/export-thread.ts'], 'otel-tracer.ts is imported statically by the export thread alone')
  t.same(importers.get('gateway/tracing/thread-exporter.ts'), ['gateway/tracing/otel-tracer.ts'])
  t.same(importers.get('gateway/tracing/export-thread.ts'), undefined, 'the export thread is a worker entry, not imported')
  // Everything the CLI loads statically stays clear of the SDK side.
  const seen = new Set<string>()
  const walk = (f: string): void => {
    if (seen.has(f)) return
    seen.add(f)
    for (const to of graph.get(f) ?? []) walk(to)
  }
  walk('bin/sluice.ts')
  t.ok(seen.has('gateway/gateway.ts'), 'the walk reaches the gateway')
  t.same(SDK_SIDE.filter((f) => seen.has(f)), [], 'no SDK-side file is reached statically from bin/sluice.ts')
  t.match(readFileSync(path.join(ROOT, 'gateway/tracing/tracing.ts'), 'utf8'), /await import\('\.\/otel-tracer\.ts'\)/)
})
