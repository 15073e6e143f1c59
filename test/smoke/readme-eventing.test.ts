// The README's Eventing section as a user follows it: its curl (read from README.md, and the same
// command in the comment of config/examples/eventing.yaml) is sent to a sluice serving the shipped
// example, answers 202, and `sluice logs event-display` then shows the event as the example's
// subscriber logged it. The curl is replayed from its words (URL, -H, -d), not run by a shell.
import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT, runSluice, startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { post } from '../gateway/eventing/helpers.ts'

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const EXAMPLE = readFileSync(path.join(ROOT, 'config/examples/eventing.yaml'), 'utf8')

/** The words of a shell command line: single and double quotes, backslash-newline continuations. */
function shellWords(line: string): string[] {
  const words: string[] = []
  let word: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === '\\' && line[i + 1] === '\n') { i++; continue }
    if (c === ' ' || c === '\n' || c === '\t') {
      if (word !== null) words.push(word)
      word = null
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1)
      if (end === -1) throw new Error(`unterminated ${c} in: ${line}`)
      word = (word ?? '') + line.slice(i + 1, end)
      i = end
    } else if (c === '#' && word === null) {
      break // a comment
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== null) words.push(word)
  return words
}

interface Curl { url: URL; headers: Record<string, string>; data: string }

/** The first `curl` command of a piece of text (continuation lines included). */
function curlIn(text: string, what: string): Curl {
  const m = /^[ \t]*(curl (?:[^\n]*\\\n)*[^\n]*)/m.exec(text)
  if (m === null) throw new Error(`no curl command in ${what}`)
  const words = shellWords(m[1]!)
  const headers: Record<string, string> = {}
  let url: URL | undefined
  let data = ''
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!
    if (w === '-H') {
      const h = words[++i]!
      const colon = h.indexOf(':')
      headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim()
    } else if (w === '-d') {
      data = words[++i]!
    } else if (w === '-i') {
      // show the response head: nothing to replay
    } else if (/^https?:\/\//.test(w)) {
      url = new URL(w)
    } else {
      throw new Error(`${what}: curl option ${w} is not replayed by this test`)
    }
  }
  if (url === undefined) throw new Error(`${what}: the curl names no URL`)
  return { url, headers, data }
}

function eventingSection(): string {
  const start = README.indexOf('\n## Eventing\n')
  if (start === -1) throw new Error('README.md has no "## Eventing" section')
  return README.slice(start, README.indexOf('\n## ', start + 1))
}

const commands: [string, Curl][] = [
  ['README.md (Eventing)', curlIn(eventingSection(), 'README.md (Eventing)')],
  ['config/examples/eventing.yaml', curlIn(EXAMPLE.split('\n').map((l) => l.replace(/^# ?/, '')).join('\n'), 'config/examples/eventing.yaml')],
]

t.test('the README curl sends one event by hand to the shipped example, and the subscriber logs it', async (t) => {
  const s = await startSluice({ 'eventing.yaml': EXAMPLE })
  t.teardown(() => s.stop())
  const startLine = new RegExp(`INFO  broker default takes events at http://broker-ingress\\.localhost:${s.port}/default/default namespace=default\n`)
  t.ok(await waitFor(() => startLine.test(s.logs()), { what: 'the start line naming the URL to POST to', timeoutMs: 30_000 }), 'the start names the URL to POST to')
  for (const [i, [where, curl]] of commands.entries()) {
    t.equal(curl.url.port, '8080', `${where}: the quickstart's public port`)
    const host = curl.headers.host ?? curl.url.hostname
    t.equal(host, 'broker-ingress.localhost', `${where}: the broker ingress host`)
    const { host: _, ...headers } = curl.headers
    // a distinct id for each, so the second is not a duplicate of the first in the subscriber's log
    const id = `${headers['ce-id']}-${i}`
    const res = await waitFor(async () => {
      const r = await post(s.port, curl.url.pathname, { ...headers, 'ce-id': id, host }, curl.data)
      return r.status === 503 ? undefined : r // 503 until the first table is in place
    }, { what: `${where}: the broker ingress answers`, timeoutMs: 30_000, everyMs: 100 })
    t.equal(res.status, 202, `${where}: 202 Accepted`)
    await waitFor(async () => (await s.admin('/debug/logs?revision=default/event-display-00001')).body.includes(`id: ${id}`),
      { what: `${where}: the subscriber logged the event`, timeoutMs: 60_000, everyMs: 100 })
    const r = await runSluice(['logs', 'event-display', '--admin', `http://127.0.0.1:${s.adminPort}`])
    t.equal(r.code, 0, r.stderr)
    const logs = r.stdout
    t.match(logs, `  id: ${id}\n`, `${where}: \`sluice logs event-display\` shows it`)
    t.match(logs, `  data: ${curl.data}\n`, `${where}: the event, as the app logged it`)
    t.match(logs, `  type: ${headers['ce-type']}\n`)
  }
})
