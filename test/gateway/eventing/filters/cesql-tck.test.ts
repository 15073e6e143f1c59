// Runs every case of the CESQL v1 TCK (test/fixtures/cesql-tck/*.yaml, copied from cloudevents/spec)
// against gateway/eventing/cesql: `error: parse` must be a CesqlSyntaxError from parseCesql; every
// other case must parse, then evaluate to `result` with exactly the expected evaluation error kind.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { compileCesql } from '../../../../gateway/eventing/cesql/evaluate.ts'
import { CesqlSyntaxError, parseCesql } from '../../../../gateway/eventing/cesql/parse.ts'
import type { CesqlValue } from '../../../../gateway/eventing/cesql/ast.ts'

interface TckCase {
  name: string
  expression: string
  result?: CesqlValue
  error?: string
  event?: Record<string, unknown>
  eventOverrides?: Record<string, unknown>
}

const dir = join(import.meta.dirname, '../../../fixtures/cesql-tck')
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()

/**
 * Sluice carries every attribute as its canonical string (gateway/eventing/types.ts), so a typed
 * extension in the TCK event (a YAML boolean or integer) reaches CESQL as a String. These two cases
 * read such an extension back bare; they get the string form of the expected value.
 */
const TYPED_EXTENSION_CASES = new Set(['Access to optional boolean extension', 'Access to optional integer extension'])

function eventOf(c: TckCase): Record<string, string> {
  const base: Record<string, unknown> = c.event ?? { specversion: '1.0', id: 'tck-id', source: 'tck-source', type: 'tck-type', ...c.eventOverrides }
  const attrs: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) {
    if (k === 'data' || k === 'data_base64' || v === null || v === undefined) continue
    attrs[k.toLowerCase()] = String(v)
  }
  return attrs
}

let total = 0
for (const file of files) {
  const text = readFileSync(join(dir, file), 'utf8')
  const suite = parseYaml(text) as { name: string; tests: TckCase[] }
  // expressions as written (`TRUE`, `0` would otherwise become YAML booleans and numbers)
  const raw = parseYaml(text, { schema: 'failsafe' }) as { tests: { expression: string }[] }
  suite.tests.forEach((c, i) => { c.expression = raw.tests[i]!.expression })
  t.test(`${file}: ${suite.name}`, async (t) => {
    for (const c of suite.tests) {
      total++
      const label = `${c.name}: ${c.expression}`
      if (c.error === 'parse') {
        t.throws(() => parseCesql(c.expression), CesqlSyntaxError, label)
        try { parseCesql(c.expression) } catch (e) { t.type((e as CesqlSyntaxError).offset, 'number', `${label}: offset`) }
        continue
      }
      let program
      try {
        program = compileCesql(parseCesql(c.expression))
      } catch (e) {
        t.fail(`${label}: unexpected parse error ${(e as Error).message}`)
        continue
      }
      const value = program.evaluate(eventOf(c))
      t.equal(program.error, c.error ?? null, `${label}: error kind${program.error ? ` (${program.errorMessage})` : ''}`)
      if (c.result !== undefined) {
        const want = TYPED_EXTENSION_CASES.has(c.name) ? String(c.result) : c.result
        t.equal(value, want, `${label}: result`)
      }
    }
  })
}

t.teardown(() => { if (total < 270) throw new Error(`only ${total} TCK cases found`) })
