// The README's Documentation index lists every page in docs/, and every relative link in the README
// and in docs/ reaches a file that exists (and, with a #fragment, a heading in it, slugged as
// GitHub does), so pages can be added, moved or retitled only together with their links.
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from '../fixtures/sluice.ts'

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const pages = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort()

t.test('the Documentation section links every page in docs/', async (t) => {
  const start = README.indexOf('\n## Documentation\n')
  t.ok(start !== -1, 'README.md has a "## Documentation" section')
  const section = README.slice(start, README.indexOf('\n## ', start + 1))
  const linked = new Set([...section.matchAll(/\]\(docs\/([^)#]+\.md)\)/g)].map((m) => m[1]!))
  for (const page of pages) t.ok(linked.has(page), `docs/${page} is in the index`)
})

/** GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const s = slug(m[1]!)
    const n = seen.get(s) ?? 0
    seen.set(s, n + 1)
    out.add(n === 0 ? s : `${s}-${n}`)
  }
  return out
}

t.test('relative links in README.md and docs/ reach existing files and headings', async (t) => {
  for (const file of ['README.md', ...pages.map((p) => `docs/${p}`)]) {
    const full = path.join(ROOT, file)
    const text = readFileSync(full, 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!
      if (/^[a-z]+:/i.test(link)) continue // http(s), mailto
      const [target, fragment] = link.split('#') as [string, string | undefined]
      const dest = target === '' ? full : path.resolve(path.dirname(full), target)
      if (!existsSync(dest)) {
        t.fail(`${file}: ${link} does not exist`)
        continue
      }
      if (fragment !== undefined && dest.endsWith('.md') && !anchors(dest).has(fragment)) t.fail(`${file}: ${link} names no heading of ${path.relative(ROOT, dest)}`)
    }
  }
  t.pass('checked')
})
