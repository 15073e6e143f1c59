// Shared by the function tests: a function project from `sluice func create`, a request with a body,
// and a child process whose output is collected.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Test } from 'tap'
import { eventually, runSluice, startSluice, tempDir } from '../fixtures/sluice.ts'

export async function createProject(language: string, template: string, name = `fn-${language}-${template}`): Promise<string> {
  const dir = path.join(tempDir('sluice-func-'), name)
  const r = await runSluice(['func', 'create', dir, '--language', language, '--template', template])
  if (r.code !== 0) throw new Error(`func create failed: ${r.stderr}`)
  return dir
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request to 127.0.0.1:port with a Host and an optional body. */
export function send(port: number, p: string, opts: { host?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), agent: false,
      headers: { ...(opts.host !== undefined ? { host: opts.host } : {}), ...opts.headers } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${p} timed out`)))
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** send(), but a refused connection is a status 0 (for polling until something listens). */
export async function trySend(port: number, p: string, opts: Parameters<typeof send>[2] = {}): Promise<Reply> {
  try {
    return await send(port, p, opts)
  } catch {
    return { status: 0, headers: {}, body: '' }
  }
}

export interface Proc { child: ChildProcess; output(): string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

export function start(file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Proc {
  const child = spawn(file, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return { child, output: () => out, exited }
}

export const CE_HEADERS = { 'ce-specversion': '1.0', 'ce-type': 'example.ping', 'ce-source': '/test', 'ce-id': 'e1', 'content-type': 'application/json' }

/**
 * A CloudEvents function of `language` deployed with `sluice func deploy` as a Trigger's
 * subscriber: its reply goes back into the Broker, and a second Trigger delivers it to a sink.
 */
export async function replyIntoBroker(t: Test, language: string): Promise<void> {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = []
  const sink = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { sink.close() })
  const sinkPort = (sink.address() as AddressInfo).port

  const s = await startSluice({
    'eventing.yaml': [
      'apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata: {name: default}', '---',
      'apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata: {name: pings}', 'spec:', '  broker: default',
      '  filter: {attributes: {type: example.ping}}',
      '  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: echo}}', '---',
      'apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata: {name: replies}', 'spec:', '  broker: default',
      '  filter: {attributes: {type: echo.response}}',
      `  subscriber: {uri: "http://127.0.0.1:${sinkPort}/replies"}`, ''].join('\n'),
  })
  t.teardown(() => s.stop())
  const dir = await createProject(language, 'cloudevents', 'echo')
  const r = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.equal(r.code, 0, r.stderr)
  t.ok(await eventually(async () => JSON.parse((await s.admin('/debug/eventing')).body).brokers[0]?.triggers.every((x: { ready: boolean }) => x.ready) === true, 60_000),
    `triggers ready: ${(await s.admin('/debug/eventing')).body}`)

  const accepted = await send(s.port, '/default/default', { host: 'broker-ingress.localhost', headers: CE_HEADERS, body: '{"n":7}' })
  t.equal(accepted.status, 202, accepted.body)
  t.ok(await eventually(() => received.length > 0, 60_000), `the reply reached the sink: ${s.logs().slice(-3000)}`)
  const reply = received[0]!
  t.match(reply.headers, { 'ce-type': 'echo.response', 'ce-source': 'echo', 'ce-specversion': '1.0' })
  t.same(JSON.parse(reply.body), { received: { n: 7 } })
}
