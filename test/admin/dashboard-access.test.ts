// The admin listener's Host and token rules hold for the dashboard page and its event stream:
// a foreign Host is 421, no token is 401 (offering Basic so a browser can prompt), the token as a
// bearer or as a browser's Basic password opens both, and Basic opens nothing but the dashboard.
import t from 'tap'
import { request, startSluice } from '../fixtures/sluice.ts'
import { launchChromium } from './dashboard-browser.ts'
import { waitFor } from '../fixtures/wait.ts'

const TOKEN = 'dashboard-token-' + process.pid
// the browser first: without chromium the test fails before it starts anything
const browser = await launchChromium()
t.teardown(() => browser.close())
const s = await startSluice({}, { env: { SLUICE_ADMIN_TOKEN: TOKEN } })
t.teardown(() => s.stop())

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')
const adminUrl = (p: string): string => `http://127.0.0.1:${s.adminPort}${p}`

/** The first server-sent event of /dashboard/events with these headers, or the status when refused. */
async function firstEvent(headers: Record<string, string>): Promise<{ status: number; data?: unknown }> {
  const ac = new AbortController()
  try {
    const res = await fetch(adminUrl('/dashboard/events'), { headers, signal: ac.signal })
    if (res.status !== 200) return { status: res.status }
    const reader = res.body!.getReader()
    let text = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString('utf8')
      const m = /^data: (.*)$/m.exec(text)
      if (m !== null && text.includes('\n\n', m.index)) return { status: 200, data: JSON.parse(m[1]!) }
    }
    return { status: res.status }
  } finally {
    ac.abort()
  }
}

t.test('a Host that is not ours is 421 for the page and the stream', async (t) => {
  for (const p of ['/', '/dashboard/events', '/dashboard/snapshot', '/dashboard/dashboard.js']) {
    const r = await request(s.adminPort, 'rebound.example.com', p, { headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(r.status, 421, p)
  }
})

t.test('without the token: 401, offering Bearer and Basic', async (t) => {
  for (const p of ['/', '/dashboard/events', '/dashboard/snapshot']) {
    const r = await request(s.adminPort, '127.0.0.1', p)
    t.equal(r.status, 401, p)
    // two WWW-Authenticate headers; Node joins them with ", "
    const challenges = String(r.headers['www-authenticate'])
    t.match(challenges, /^Bearer realm="sluice-admin"/, `${p} offers Bearer`)
    t.match(challenges, /, Basic realm="sluice-admin"/, `${p} offers Basic, so a browser prompts`)
  }
  t.equal((await request(s.adminPort, '127.0.0.1', '/', { headers: { authorization: basic('ops', 'wrong') } })).status, 401, 'a wrong Basic password')
  t.equal((await firstEvent({})).status, 401, 'no stream without the token')
})

t.test('the token as a bearer or a Basic password opens the page and the stream', async (t) => {
  const page = await request(s.adminPort, '127.0.0.1', '/', { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(page.status, 200)
  t.match(page.body, /<title>Sluice<\/title>/)
  t.equal((await request(s.adminPort, '127.0.0.1', '/', { headers: { authorization: basic('anyone', TOKEN) } })).status, 200, 'Basic, any user name')
  const ev = await firstEvent({ authorization: basic('ops', TOKEN) })
  t.equal(ev.status, 200)
  t.match(ev.data, { ready: true, errors: [], services: [] }, 'a snapshot')
  t.equal((await firstEvent({ authorization: `Bearer ${TOKEN}` })).status, 200, 'bearer stream')
  const post = await request(s.adminPort, '127.0.0.1', '/', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(post.status, 405, 'only GET and HEAD')
  t.equal(post.headers.allow, 'GET, HEAD')
  const head = await request(s.adminPort, '127.0.0.1', '/dashboard/events', { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(head.status, 200, 'HEAD of the stream answers and ends')
})

t.test('Basic credentials open only the dashboard', async (t) => {
  for (const p of ['/metrics', '/debug/resources']) {
    const r = await request(s.adminPort, '127.0.0.1', p, { headers: { authorization: basic('ops', TOKEN) } })
    t.equal(r.status, 401, p)
    t.notMatch(String(r.headers['www-authenticate']), /Basic/, `${p} offers no Basic prompt`)
  }
})

t.test('a browser: refused without credentials, live with the token as its password', async (t) => {
  const bare = await browser.newPage()
  // Headless Chromium cannot show the Basic prompt it would show: the load fails for want of credentials.
  const refused = await bare.goto(adminUrl('/')).then((r) => `status ${r?.status()}`, (err: Error) => err.message)
  t.match(refused, /ERR_INVALID_AUTH_CREDENTIALS|status 401/, 'no page without credentials')
  const ctx = await browser.newContext({ httpCredentials: { username: 'ops', password: TOKEN } })
  const page = await ctx.newPage()
  t.equal((await page.goto(adminUrl('/')))?.status(), 200)
  await waitFor(async () => (await page.textContent('#conn')) === 'live', { what: 'the page live through the token', timeoutMs: 30_000, everyMs: 50 })
  t.pass('the event stream opened with the browser\'s credentials')
})
