// With tracing off the OpenTelemetry SDK is never loaded: only gateway/tracing/otel-tracer.ts
// imports it, and that file is reached only through tracing.ts's dynamic import. Checked on the
// sources (every static import of every file under bin/, lib/, gateway/, control/, plugins/).
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

t.test('the SDK is imported by otel-tracer.ts alone, which nothing imports statically', async (t) => {
  const all = ['bin', 'lib', 'gateway', 'control', 'plugins'].flatMap((d) => files(path.join(ROOT, d)))
  const sdkUsers: string[] = []
  const tracerImporters: string[] = []
  for (const f of all) {
    const src = readFileSync(f, 'utf8')
    for (const m of src.matchAll(STATIC_IMPORT)) {
      const spec = m[1]!
      const typeOnly = /^\s*(?:import|export)\s+type\s/.test(m[0])
      if (spec.startsWith('@opentelemetry/') && !typeOnly) sdkUsers.push(path.relative(ROOT, f))
      if (spec.endsWith('/otel-tracer.ts') && !typeOnly) tracerImporters.push(path.relative(ROOT, f))
    }
  }
  t.same([...new Set(sdkUsers)], ['gateway/tracing/otel-tracer.ts'])
  t.same(tracerImporters, [], 'otel-tracer.ts is only imported dynamically')
  t.match(readFileSync(path.join(ROOT, 'gateway/tracing/tracing.ts'), 'utf8'), /await import\('\.\/otel-tracer\.ts'\)/)
})
