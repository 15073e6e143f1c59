// Parked requests, through a real `sluice serve` and real app processes: a new connection whose
// request is for a revision that already has requests waiting waits as bytes, without HTTP state
// (sluice_activator_parked_requests), and is then answered exactly as a buffered request would be:
// served with its body intact once an instance is ready, 503 + Retry-After when the queue is full,
// 504 when timeoutSeconds passes. A client that leaves while parked is uncounted at once.
import t from 'tap'
import http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { eventually, metric, startSluice } from '../fixtures/sluice.ts'
import { appServiceYaml, attempt, burst, configMapYaml, countBy, host, revisionInstances, type Outcome } from './fixtures/helpers.ts'

const TAG = `parked-${process.pid}`
const dir = mkdtempSync(path.join(tmpdir(), 'sluice-parked-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const gateFile = path.join(dir, 'gate')
const sulkyFile = path.join(dir, 'sulky')
writeFileSync(gateFile, 'open')
writeFileSync(sulkyFile, 'open')

const s = await startSluice({
  'sluice.yaml': configMapYaml('config-sluice', { 'activator-queue-depth': '20' }),
  // Ready while their file exists; without it their one instance leaves rotation and requests wait.
  'gated.yaml': appServiceYaml(TAG, { name: 'gated', env: { APP_READY_FILE: gateFile }, readinessPath: '/ready', periodSeconds: 1, failureThreshold: 1 }),
  'sulky.yaml': appServiceYaml(TAG, { name: 'sulky', timeoutSeconds: 2, env: { APP_READY_FILE: sulkyFile }, readinessPath: '/ready', periodSeconds: 1, failureThreshold: 1 }),
})
t.teardown(() => s.stop())

t.test('the revisions become ready, then their instances leave rotation', async (t) => {
  for (const service of ['gated', 'sulky']) {
    t.ok(await eventually(async () => (await attempt(s.port, service, '/', 'ready')).status === 200, 60_000, 100), `${service} serves`)
  }
  rmSync(gateFile)
  rmSync(sulkyFile)
  for (const rev of ['gated-00001', 'sulky-00001']) {
    t.ok(await eventually(async () => (await revisionInstances(s, rev))?.ready === 0, 30_000, 50), `${rev}: no ready instance`)
  }
})

const sample = async (name: string, revision: string): Promise<number> => metric((await s.admin('/metrics')).body, name, { revision }) ?? 0

/** A POST on its own connection, with `body` written in one go. */
function post(service: string, body: Buffer, id: string): Promise<Outcome> {
  const t0 = performance.now()
  const size = body.length
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/', agent: false, headers: { host: host(service), 'x-test-id': id, 'content-length': size } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, id, ms: performance.now() - t0 }))
    })
    req.on('error', (err) => resolve({ status: 0, body: '', headers: {}, error: err.message, id, ms: performance.now() - t0 }))
    req.end(body)
  })
}

/** A client that sends its request and hangs up without waiting for the answer. */
function leaver(service: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const sock = net.connect(s.port, '127.0.0.1', () => {
      sock.write(`GET /?leaver HTTP/1.1\r\nHost: ${host(service)}\r\n\r\n`)
      resolve(sock)
    })
    sock.on('error', () => {})
  })
}

t.test('new connections wait parked behind a waiting request, and are served once an instance is ready', async (t) => {
  const rev = 'gated-00001'
  const first = attempt(s.port, 'gated', '/', 'first', { timeoutMs: 20_000 })
  t.ok(await eventually(async () => (await sample('sluice_activator_queue_depth', rev)) === 1, 30_000, 20), 'the first request waits as an ordinary buffered request')
  const gets = burst(s.port, 'gated', '/', 12, 'get', 20_000)
  // Bodies: one fits in the first read; one is larger than what a parked socket reads (64 KiB).
  const smallBody = randomBytes(1000)
  const largeBody = randomBytes(300_000)
  const small = post('gated', smallBody, 'post-small')
  const large = post('gated', largeBody, 'post-large')
  t.ok(await eventually(async () => (await sample('sluice_activator_parked_requests', rev)) === 14, 30_000, 20), 'the 14 later connections are parked')
  t.equal(await sample('sluice_activator_queue_depth', rev), 15, 'parked requests count in the queue depth')
  t.equal(await sample('sluice_revision_inflight_requests', rev), 15, 'and in the revision\'s concurrency (what the autoscaler sees)')

  const sock = await leaver('gated')
  t.ok(await eventually(async () => (await sample('sluice_activator_parked_requests', rev)) === 15, 30_000, 20), 'one more parked')
  sock.destroy()
  t.ok(await eventually(async () => (await sample('sluice_revision_inflight_requests', rev)) === 15, 30_000, 20), 'a client that leaves while parked stops counting at once')
  t.equal(await sample('sluice_activator_parked_requests', rev), 14)

  // A head Node's parser refuses (a Content-Length too large for llhttp) is not parked: the reader
  // refuses whatever llhttp refuses (test/gateway/request-head-diff.test.ts), so Node answers 400
  // at once while the others still wait, even though this client never closes its side.
  const refused = await new Promise<{ sock: net.Socket; answer: Promise<string> }>((resolve) => {
    const sock = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      sock.write(`POST / HTTP/1.1\r\nHost: ${host('gated')}\r\nContent-Length: 99999999999999999999999\r\n\r\n`)
      let text = ''
      resolve({ sock, answer: new Promise((done) => { sock.setEncoding('latin1').on('data', (d: string) => { text += d }); sock.on('end', () => done(text)) }) })
    })
    sock.on('error', () => {})
  })
  t.teardown(() => refused.sock.destroy())
  t.match(await refused.answer, /^HTTP\/1\.1 400 /, 'Node refuses it with 400 at once, and closes the connection')
  t.equal(await sample('sluice_activator_parked_requests', rev), 14, 'it was never parked')

  writeFileSync(gateFile, 'open')
  const all = [await first, ...(await gets), await small, await large]
  t.same(countBy(all, (o) => o.status), { 200: 15 }, 'every waiting request is served')
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
  t.same(JSON.parse((await small).body), { ...JSON.parse((await small).body), bytes: 1000, sha256: sha(smallBody) }, 'a parked small body arrives whole')
  t.same(JSON.parse((await large).body), { ...JSON.parse((await large).body), bytes: 300_000, sha256: sha(largeBody) }, 'a parked large body arrives whole, in order')
  t.equal(JSON.parse(all[1]!.body).id, 'get-0', 'the request the app sees is the one the client sent')
  t.equal(await sample('sluice_activator_parked_requests', rev), 0, 'nothing parked afterwards')
  t.equal(await sample('sluice_revision_inflight_requests', rev), 0, 'nothing in flight afterwards')
  t.ok(await eventually(async () => metric((await s.admin('/metrics')).body, 'sluice_inflight_requests') === 0, 30_000, 50), 'the gateway has nothing in flight')
  t.equal((await attempt(s.port, 'gated', '/', 'after')).status, 200, 'a later request goes straight through')
})

t.test('a parked request is refused like a buffered one: 503 + Retry-After when the queue is full, 504 after timeoutSeconds', async (t) => {
  const rev = 'sulky-00001'
  const first = attempt(s.port, 'sulky', '/', 'first', { timeoutMs: 15_000 })
  t.ok(await eventually(async () => (await sample('sluice_activator_queue_depth', rev)) === 1, 30_000, 20), 'the first request waits')
  const waiting = burst(s.port, 'sulky', '/', 19, 'wait', 15_000)
  let waited = false
  void waiting.then(() => { waited = true })
  t.ok(await eventually(async () => (await sample('sluice_activator_parked_requests', rev)) === 19, 30_000, 20), '19 parked: the queue (20) is full')
  const refused = await burst(s.port, 'sulky', '/', 3, 'over')
  for (const r of refused) {
    t.equal(r.status, 503, `${r.id}: 503`)
    t.equal(r.headers['retry-after'], '1', 'with Retry-After')
    t.match(r.body, /too many requests waiting for sulky-00001/)
  }
  t.notOk(waited, 'refused at once: the waiting requests are still waiting')
  const timedOut = [await first, ...(await waiting)]
  t.same(countBy(timedOut, (o) => o.status), { 504: 20 }, 'every waiting request ends 504 at timeoutSeconds')
  t.ok(timedOut.every((o) => o.body === 'activator request timeout\n'), 'with the activator\'s message')
  // Not before timeoutSeconds; the 504 with the activator's message says it was that timer, so no upper bound.
  t.ok(timedOut.every((o) => o.ms >= 1_800), 'not before timeoutSeconds (2 s)')
  const m = (await s.admin('/metrics')).body
  t.equal(metric(m, 'sluice_activator_overflows_total', { revision: rev }), 3, 'overflows counted')
  t.equal(metric(m, 'sluice_activator_timeouts_total', { revision: rev }), 20, 'timeouts counted')
  t.equal(metric(m, 'sluice_activator_parked_requests', { revision: rev }), 0, 'nothing parked afterwards')
  t.equal(metric(m, 'sluice_revision_inflight_requests', { revision: rev }), 0, 'nothing in flight afterwards')
})
