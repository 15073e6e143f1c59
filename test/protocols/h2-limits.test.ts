// HTTP/2 limits on the public ports (issue 10): one h2c connection opening streams whose declared
// bodies never come took the gateway from 122 MB to 1.4 GB in 5 s and starved every other client.
// A raw client that ignores the server's SETTINGS (Node's own client would obey them) shows that
// streams past 100 are refused (RST_STREAM REFUSED_STREAM, or GOAWAY once it acknowledged the
// SETTINGS), header lists past 32 KiB are refused per stream, and other clients are served
// meanwhile; rapid-reset and PING floods stay contained. The TLS listener announces the same limits.
import t, { type Test } from 'tap'
import http2 from 'node:http2'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice } from '../fixtures/sluice.ts'
import { coreBackend, kingress, send, yamlDocs } from '../gateway/helpers.ts'
import { secretYaml, selfSigned } from '../tls/certs.ts'
import { closeSession, h2Connect, h2Request, tlsIngress, tlsPortOf } from './fixtures/routes.ts'
import { ERROR, FLAG, FRAME, PREFACE, RawH2, SETTING, frame, headersFrame, settingsFrame, settingsOf } from './fixtures/h2-frames.ts'

const HOST = 'h2.limits.example.com'
const TLS_HOST = 'tls.h2.limits.example.com'
const CERT = selfSigned(TLS_HOST)

const backend = await startBackend('web')
t.teardown(() => backend.close())
const s = await startSluice({
  'routes.yaml': yamlDocs(
    ...coreBackend('web', backend.port),
    kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'web' }] }] }]),
    tlsIngress('secure', [{ hosts: [TLS_HOST], paths: [{ splits: [{ service: 'web' }] }] }], [{ hosts: [TLS_HOST], secretName: 'cert' }]),
  ),
  'secret.yaml': secretYaml('cert', CERT.cert, CERT.key),
})
t.teardown(() => s.stop())

/** A POST that declares a 1 MB body and never sends it: the stream stays open. */
const NO_BODY: [string, string][] = [[':method', 'POST'], [':path', '/'], [':scheme', 'http'], [':authority', HOST], ['content-length', '1000000']]
const GET: [string, string][] = [[':method', 'GET'], [':path', '/'], [':scheme', 'http'], [':authority', HOST]]

/** A raw h2c connection past the preface; with `ack`, it acknowledged the server's SETTINGS. */
async function attacker(t: Test, ack: boolean): Promise<RawH2> {
  const a = new RawH2(s.port)
  t.teardown(() => a.destroy())
  await a.connected()
  a.write(Buffer.concat([PREFACE, settingsFrame()]))
  if (!await eventually(() => serverSettings(a) !== undefined)) throw new Error('no SETTINGS from the server')
  if (ack) a.write(frame(FRAME.SETTINGS, FLAG.ACK, 0))
  return a
}

function serverSettings(a: RawH2): Map<number, number> | undefined {
  const f = a.frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0)
  return f === undefined ? undefined : settingsOf(f)
}

/** `n` streams with declared bodies that never come, ids 1, 3, 5, … */
function flood(a: RawH2, n: number, first = 1): void {
  const frames: Buffer[] = []
  for (let i = 0; i < n; i++) frames.push(headersFrame(first + 2 * i, NO_BODY))
  a.write(Buffer.concat(frames))
}

/** Other clients get their answers: HTTP/1.1, and h2c on a session of their own. */
async function othersServed(t: Test): Promise<void> {
  const r = await send(s.port, HOST, { timeoutMs: 5000 })
  t.equal(r.status, 200, 'an HTTP/1.1 client is served')
  const session = await h2Connect(`http://127.0.0.1:${s.port}`)
  try {
    const h2 = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': HOST, ':scheme': 'http' }, undefined, 5000)
    t.equal(h2.status, 200, 'an h2c client is served')
  } finally {
    await closeSession(session)
  }
  t.equal((await s.admin('/healthz')).status, 200, 'the admin listener answers')
}

t.test('the h2c listener announces its limits', async (t) => {
  const a = await attacker(t, false)
  const settings = serverSettings(a)!
  t.equal(settings.get(SETTING.MAX_CONCURRENT_STREAMS), 100)
  t.equal(settings.get(SETTING.MAX_HEADER_LIST_SIZE), 32 * 1024)
  t.equal(settings.get(SETTING.INITIAL_WINDOW_SIZE), 65_535)
})

t.test('streams past 100 are refused while other clients are served', async (t) => {
  // A connection that never acknowledges the SETTINGS (so nghttp2 holds it to the limit it
  // announced by refusing streams, rather than by a connection error), 300 streams per round;
  // three rounds, each on a new connection, as the attack reconnected.
  for (let round = 0; round < 3; round++) {
    const a = await attacker(t, false)
    flood(a, 300)
    t.ok(await eventually(() => a.count(FRAME.RST_STREAM, ERROR.REFUSED_STREAM) >= 200), `round ${round}: 200 streams refused`)
    const refused = a.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => f.stream)
    t.equal(Math.min(...refused), 201, `round ${round}: the first 100 streams (1…199) were accepted, every later one refused`)
    t.equal(a.count(FRAME.GOAWAY), 0, `round ${round}: the session goes on`)
    // 100 streams held open by the attacker right now, none of them sending its body.
    await othersServed(t)
    t.notOk(a.closed, `round ${round}: the attacker was still connected while others were served`)
    a.destroy()
  }
})

t.test('a client that acknowledged the SETTINGS and exceeds them loses the session', async (t) => {
  const a = await attacker(t, true)
  flood(a, 300)
  t.ok(await eventually(() => a.count(FRAME.GOAWAY) === 1), 'GOAWAY')
  const goaway = a.frames.find((f) => f.type === FRAME.GOAWAY)!
  t.equal(goaway.payload.readUInt32BE(4), ERROR.PROTOCOL_ERROR, 'PROTOCOL_ERROR (RFC 9113 §5.1.2)')
  t.equal(goaway.payload.readUInt32BE(0) & 0x7fffffff, 199, 'the last stream processed is the 100th')
  t.ok(await eventually(() => a.closed), 'the connection is closed')
  await othersServed(t)
})

t.test('a header list over 32 KiB is refused, the session goes on', async (t) => {
  const a = await attacker(t, true)
  a.write(Buffer.concat([
    headersFrame(1, [...GET, ['x-big', 'y'.repeat(40_000)]], true),
    headersFrame(3, [...GET, ['x-small', 'y'.repeat(100)]], true),
  ]))
  t.ok(await eventually(() => a.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 3)), 'the next stream is answered')
  const reset = a.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === 1)
  t.ok(reset, 'the large one is reset')
  t.equal(reset?.payload.readUInt32BE(0), ERROR.ENHANCE_YOUR_CALM)
  t.notOk(a.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 1), 'and never answered')
})

t.test('rapid reset: streams opened and cancelled at once are contained', async (t) => {
  // CVE-2023-44487: cancelled streams no longer count against the concurrency limit.
  const a = await attacker(t, true)
  const frames: Buffer[] = []
  for (let i = 0; i < 2000; i++) {
    const id = 1 + 2 * i
    const rst = Buffer.alloc(4)
    rst.writeUInt32BE(8) // CANCEL
    frames.push(headersFrame(id, GET, true), frame(FRAME.RST_STREAM, 0, id, rst))
  }
  a.write(Buffer.concat(frames))
  t.ok(await eventually(() => a.closed || a.count(FRAME.GOAWAY) > 0, 10_000), 'the session is ended by the server')
  await othersServed(t)
})

t.test('a PING flood does not stop other clients', async (t) => {
  const a = await attacker(t, true)
  const pings: Buffer[] = []
  for (let i = 0; i < 20_000; i++) pings.push(frame(FRAME.PING, 0, 0, Buffer.alloc(8)))
  // The attacker does not read: the server's ACKs wait in the socket buffers, then in nghttp2's
  // outbound queue, which is bounded (past it the session is ended with ENHANCE_YOUR_CALM).
  a.socket.pause()
  a.write(Buffer.concat(pings))
  await othersServed(t)
})

t.test('the TLS listener announces the same limits', async (t) => {
  const port = await tlsPortOf(s)
  const session = await h2Connect(`https://127.0.0.1:${port}`, { servername: TLS_HOST, ca: [CERT.cert] })
  t.teardown(() => closeSession(session))
  // Node's client assumes 100 concurrent streams until the server's SETTINGS arrive; the header
  // list size (unlimited until then) says they did.
  t.ok(await eventually(() => session.remoteSettings.maxHeaderListSize === 32 * 1024), 'maxHeaderListSize 32 KiB')
  t.equal(session.remoteSettings.maxConcurrentStreams, 100)
  const r = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': TLS_HOST, ':scheme': 'https' })
  t.equal(r.status, 200)
  t.equal(http2.constants.NGHTTP2_REFUSED_STREAM, ERROR.REFUSED_STREAM)
})
