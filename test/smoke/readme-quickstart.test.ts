// The README's quickstart, as a user follows it: step 2's file, then step 3's complete file pasted
// over it, are read from README.md itself (so the README cannot rot), validated with `sluice
// validate`, and served: the split answers with the lines step 3 shows. Step 4's quoted error
// (file:line:column) is what Sluice says when that file's first percent becomes 150.
import t from 'tap'
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT, request, runSluice, startSluice, tempDir } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** The text of quickstart step `n`, up to the next step (or the next section). */
function step(n: number): string {
  const start = README.indexOf(`**${n}. `)
  if (start === -1) throw new Error(`README.md has no quickstart step ${n}`)
  const next = README.indexOf(`**${n + 1}. `, start)
  const end = next === -1 ? README.indexOf('\n## ', start) : next
  return README.slice(start, end)
}

/** The fenced blocks of a language in a piece of Markdown. */
function blocks(md: string, lang: string): string[] {
  return [...md.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!)
}

/** The YAML block of a step that is a whole file (its first line names it). */
function greeterFile(n: number): string {
  const file = blocks(step(n), 'yaml').find((b) => b.startsWith('# config/examples/greeter.yaml\n'))
  if (file === undefined) throw new Error(`README step ${n} has no complete config/examples/greeter.yaml block`)
  return file
}

/** The response lines a step shows under its curl commands (`# Hello from greeter-00001 (GET /)`). */
function shownResponses(n: number): Set<string> {
  const lines = blocks(step(n), 'sh').join('').split('\n')
  return new Set(lines.flatMap((l) => /^# (\S.* from \S+ \(GET \/\))/.exec(l)?.[1] ?? []))
}

async function validate(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const state = tempDir('sluice-readme-state-')
  try {
    return await runSluice(['validate', dir, '--state', state])
  } finally {
    rmSync(state, { recursive: true, force: true })
  }
}

const step2 = greeterFile(2)
const step3 = greeterFile(3)

t.test('step 3 is a complete file that validates, alone and beside the example', async (t) => {
  t.match(step3, /^apiVersion: serving\.knative\.dev\/v1$/m, 'a whole document, not a fragment')
  const alone = tempDir('sluice-readme-')
  t.teardown(() => rmSync(alone, { recursive: true, force: true }))
  writeFileSync(path.join(alone, 'greeter.yaml'), step3)
  const r = await validate(alone)
  t.equal(r.code, 0, `sluice validate exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  t.match(r.stdout, /next-greeter\.default\.localhost/, 'the tag host is served')

  // As the README says: added to config/examples, next to the example.
  const examples = tempDir('sluice-readme-examples-')
  t.teardown(() => rmSync(examples, { recursive: true, force: true }))
  cpSync(path.join(ROOT, 'config/examples'), examples, { recursive: true })
  writeFileSync(path.join(examples, 'greeter.yaml'), step3)
  const all = await validate(examples)
  t.equal(all.code, 0, `sluice validate config/examples with greeter.yaml exits 0${all.code === 0 ? '' : `: ${all.stderr}`}`)
})

t.test("step 4's quoted error is the one Sluice prints for step 3's file with percent: 150", async (t) => {
  const quoted = /at="config\/examples\/(greeter\.yaml:\d+:\d+ [^"]+)"/.exec(step(4))?.[1]
  t.ok(quoted, 'step 4 quotes an error in config/examples/greeter.yaml')
  const dir = tempDir('sluice-readme-bad-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bad = step3.replace(/percent: 50\b/, 'percent: 150')
  t.not(bad, step3)
  writeFileSync(path.join(dir, 'greeter.yaml'), bad)
  const r = await validate(dir)
  t.equal(r.code, 1, 'sluice validate exits 1')
  t.ok(r.stderr.includes(`${dir}/${quoted}`), `validate prints "${quoted}"; it printed:\n${r.stderr}`)
})

t.test('steps 2 and 3 serve what the README shows', { timeout: 180_000 }, async (t) => {
  // The example's commands name config/examples/app/… relative to the working directory, as under `npm start`.
  t.equal(process.cwd(), ROOT.replace(/\/$/, ''), 'tests run from the project root (startSluice inherits it)')
  const s = await startSluice({ 'greeter.yaml': step2 })
  t.teardown(() => s.stop())
  const logs = (): string => s.logs().slice(-3000)

  const shown2 = shownResponses(2)
  t.same([...shown2], ['Hello from greeter-00001 (GET /)'], 'step 2 shows one answer')
  const first = await waitFor(async () => {
    const r = await request(s.port, 'greeter.default.localhost', '/', { timeoutMs: 60_000 })
    return r.status === 200 ? r : undefined
  }, { timeoutMs: 60_000, everyMs: 100, what: () => `greeter to answer 200; logs:\n${logs()}` })
  t.equal(first.body.trimEnd(), [...shown2][0], 'step 2 answers as shown')

  s.write('greeter.yaml', step3)
  const shown3 = shownResponses(3)
  t.ok(shown3.size >= 2, `step 3 shows both revisions' answers: ${[...shown3].join(' | ')}`)
  // `latestRevision: true` is greeter-00001 until greeter-00002 is ready; the tag host then reaches it.
  const tagged = await waitFor(async () => {
    const r = await request(s.port, 'next-greeter.default.localhost', '/', { timeoutMs: 60_000 })
    return r.status === 200 && r.body.includes('greeter-00002') ? r : undefined
  }, { timeoutMs: 60_000, everyMs: 100, what: () => `next-greeter to reach greeter-00002; logs:\n${logs()}` })
  t.ok(shown3.has(tagged.body.trimEnd()), `the tag host answers a line step 3 shows: ${tagged.body.trimEnd()}`)

  // 50/50: every line shown appears within a few hundred requests (the chance one does not is 2^-200).
  const seen = new Set<string>()
  for (let i = 0; i < 200 && seen.size < shown3.size; i++) {
    const r = await request(s.port, 'greeter.default.localhost', '/', { timeoutMs: 60_000 })
    if (r.status !== 200) t.fail(`greeter answered ${r.status}: ${r.body}`)
    seen.add(r.body.trimEnd())
  }
  t.same([...seen].sort(), [...shown3].sort(), 'the default host answers with exactly the lines step 3 shows')
})

t.test("step 1's answers are the example app's (test/smoke/smoke.test.ts checks them served)", async (t) => {
  const shown = shownResponses(1)
  t.ok(shown.has('Hello v1 from hello-v1 (GET /)') && shown.has('Hello v2 from hello-v2 (GET /)'), [...shown].join(' | '))
  const example = readFileSync(path.join(ROOT, 'config/examples/hello.yaml'), 'utf8')
  t.match(example, /name: GREETING\n\s+value: Hello v1\n/, 'hello-v1 greets with "Hello v1"')
  t.match(example, /name: GREETING\n\s+value: Hello v2\n/, 'hello-v2 greets with "Hello v2"')
})
