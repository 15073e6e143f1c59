// Revision timeouts with Knative's semantics (serving pkg/http/handler/timeout.go, see the comment
// at the top of gateway/proxy-request.ts): timeoutSeconds and responseStartTimeoutSeconds bound
// the wait for the first byte (504 `request timeout`), then a stream may outlive them;
// idleTimeoutSeconds bounds silences (504 before the first byte, a cut stream after it).
// KIngress routes have no timeout at all.
import t from 'tap'
import type { Test } from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice } from '../fixtures/sluice.ts'
import { coreBackend, kingress, sample, send, yamlDocs, type Reply } from './helpers.ts'

const backend = await startBackend('slow')
t.teardown(() => backend.close())

function svc(name: string, spec: string): string {
  return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: ${backend.origin}
    spec:
      ${spec}
      containers:
        - image: example.dev/slow
`
}

const s = await startSluice({
  'services.yaml': [
    svc('total', 'timeoutSeconds: 1'),
    svc('start', 'responseStartTimeoutSeconds: 1'),
    svc('idle', 'idleTimeoutSeconds: 1'),
  ].join('---\n'),
  'ingress.yaml': yamlDocs(...coreBackend('none', backend.port), kingress('none', [{ hosts: ['none.example.com'], paths: [{ splits: [{ service: 'none' }] }] }])),
})
t.teardown(() => s.stop())

const get = (name: string, path: string): Promise<Reply> =>
  send(s.port, name.includes('.') ? name : `${name}.default.localhost`, { path, timeoutMs: 8000 })

function isTimeout(t: Test, r: Reply, what: string): void {
  t.equal(r.status, 504, `${what}: 504`)
  t.equal(r.text.trimEnd(), 'request timeout', `${what}: body`)
  // Not early. Not late either, but that is the 504 itself: the backend would have answered at 2 s,
  // and the client's own 8 s timeout guards a hang. A load can only delay it, so no upper bound.
  t.ok(r.totalMs >= 950, `${what}: answered after ${r.totalMs.toFixed(0)} ms (timeout 1 s)`)
}

// All exchanges start together (the file takes ~2 s instead of ~7); each test checks its own.
const started = {
  total: Promise.all([get('total', '/?delay=2000'), get('total', '/?delay=200'), get('total', '/?stream=4&every=500')]),
  start: Promise.all([get('start', '/?delay=2000'), get('start', '/?delay=200'), get('start', '/?stream=4&every=500')]),
  idle: Promise.all([get('idle', '/?stream=2&every=2000'), get('idle', '/?stream=5&every=300'), get('idle', '/?delay=2000')]),
  none: Promise.all([get('none.example.com', '/?delay=1500'), get('none.example.com', '/?stream=2&every=1500')]),
}
// a rejection is reported by the test that awaits it, not as an unhandled one
for (const p of Object.values(started)) p.catch(() => {})

t.test('timeoutSeconds: 1', async (t) => {
  const [slow, quick, streaming] = await started.total
  isTimeout(t, slow, 'no byte within the timeout')
  t.equal(quick.status, 200, 'an answer within the timeout')
  t.equal(streaming.status, 200, 'first byte at once, then streaming past the timeout')
  t.equal(streaming.text, 'chunk 4\nchunk 3\nchunk 2\nchunk 1\n', 'the whole stream arrives')
  t.ok(streaming.complete)
  t.ok(streaming.totalMs >= 1400, `the stream lasted ${streaming.totalMs.toFixed(0)} ms`)
})

t.test('responseStartTimeoutSeconds: 1', async (t) => {
  const [slow, quick, streaming] = await started.start
  isTimeout(t, slow, 'no response start within the timeout')
  t.equal(quick.status, 200)
  t.equal(streaming.status, 200)
  t.equal(streaming.text, 'chunk 4\nchunk 3\nchunk 2\nchunk 1\n')
})

t.test('idleTimeoutSeconds: 1', async (t) => {
  const [gap, steady, silent] = await started.idle
  t.equal(gap.status, 200, 'the status was already sent')
  t.equal(gap.text, 'chunk 2\n', 'only what came before the silence')
  t.notOk(gap.complete, 'a 2 s silence after the first chunk cuts the stream')
  t.ok(gap.error !== undefined, 'the client sees the cut as an error')
  t.ok(gap.totalMs >= 950, `cut after ${gap.totalMs.toFixed(0)} ms, not before the idle timeout`)
  t.equal(steady.status, 200)
  t.equal(steady.text, 'chunk 5\nchunk 4\nchunk 3\nchunk 2\nchunk 1\n', 'writes every 300 ms keep the stream alive past 1 s')
  t.ok(steady.complete)
  isTimeout(t, silent, 'silence before the first byte')
})

t.test('KIngress routes have no timeout (conformance timeout)', async (t) => {
  const [slow, stream] = await started.none
  t.equal(slow.status, 200)
  t.equal(stream.status, 200)
  t.equal(stream.text, 'chunk 2\nchunk 1\n')
})

t.test('timeouts are counted by kind and nothing stays in flight', async (t) => {
  const m = (revision: string, kind: string): Promise<number> => sample(s, 'sluice_upstream_errors_total', { revision, kind })
  t.equal(await m('total-00001', 'response_start_timeout'), 1)
  t.equal(await m('start-00001', 'response_start_timeout'), 1)
  t.equal(await m('idle-00001', 'idle_timeout'), 1)
  t.equal(await sample(s, 'sluice_requests_total', { revision: 'total-00001', class: '5xx' }), 1)
  t.equal(await sample(s, 'sluice_requests_total', { revision: 'total-00001', class: '2xx' }), 2)
  t.ok(await eventually(async () => (await sample(s, 'sluice_inflight_requests')) === 0, 30_000, 50), 'in-flight back to 0')
})
