// The Python runtime's CloudEvents HTTP binding (standard library only), against events the
// `cloudevents` npm SDK produces, and its replies read back by the same SDK.
import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { CloudEvent, HTTP } from 'cloudevents'
import { freePort } from '../../control/runtime/free-port.ts'
import { PYTHON_RUNTIME } from '../../control/functions/runtimes.ts'
import { eventually } from '../fixtures/sluice.ts'
import { createProject, send, start, trySend, type Reply } from './helpers.ts'

const skip = spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed'

async function serve(t: Test, dir: string): Promise<number> {
  const port = await freePort()
  const proc = start('python3', [PYTHON_RUNTIME, dir], { cwd: dir, env: { PORT: String(port) } })
  t.teardown(() => { proc.child.kill('SIGKILL') })
  t.ok(await eventually(async () => (await trySend(port, '/health/readiness')).status === 200), `ready: ${proc.output()}`)
  return port
}

/** The SDK's message (binary or structured) as a request; the reply as the SDK reads it. */
async function post(port: number, message: { headers: Record<string, unknown>; body: unknown }): Promise<Reply> {
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]))
  const body = typeof message.body === 'string' ? message.body : message.body === undefined ? '' : JSON.stringify(message.body)
  return send(port, '/', { headers, body })
}
const asEvent = (r: Reply): CloudEvent<unknown> => HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent<unknown>

t.test('python cloudevents template: binary and structured events in, a binary-mode event out', { skip }, async (t) => {
  const dir = await createProject('python', 'cloudevents', 'pyecho')
  const port = await serve(t, dir)
  const ping = new CloudEvent({ type: 'example.ping', source: '/test', subject: 'a b"%é', data: { n: 1 } })

  const binary = await post(port, HTTP.binary(ping))
  t.equal(binary.status, 200, binary.body)
  const reply = asEvent(binary)
  t.match(reply, { specversion: '1.0', type: 'pyecho.response', source: 'pyecho', datacontenttype: 'application/json' })
  t.ok(reply.id, 'the reply gets an id')
  t.same(reply.data, { received: { n: 1 } })

  const structured = await post(port, HTTP.structured(new CloudEvent({ type: 'example.ping', source: '/test', data: { s: true } })))
  t.same(asEvent(structured).data, { received: { s: true } })

  t.match(await send(port, '/'), { status: 400, body: /expected a CloudEvent/ }, 'a plain request is the handler\'s to refuse')
})

t.test('python runtime: what the binding reads, and what it refuses', { skip }, async (t) => {
  const dir = await createProject('python', 'cloudevents', 'pyattrs')
  // echoes what it was given as the reply's data; a reply with no data; None
  writeFileSync(path.join(dir, 'func.py'), [
    'import base64',
    'def main(context):',
    '    e = context.cloud_event',
    '    if e["type"] == "quiet": return None',
    '    if e["type"] == "empty": return {"type": "t.empty", "source": "/py", "flag": True}',
    '    data = e.data',
    '    if isinstance(data, bytes): data = "bytes:" + base64.b64encode(data).decode()',
    '    return {"type": "t.echo", "source": "/py", "subject": e.get("subject"), "data": {"attributes": e.get_attributes(), "data": data}}',
    ''].join('\n'))
  const port = await serve(t, dir)
  const echo = async (message: { headers: Record<string, unknown>; body: unknown }): Promise<{ attributes: Record<string, string>; data: unknown }> => {
    const r = await post(port, message)
    t.equal(r.status, 200, r.body)
    return asEvent(r).data as { attributes: Record<string, string>; data: unknown }
  }

  // binary: percent-encoded header values decoded, extensions kept, content type as datacontenttype
  const odd = new CloudEvent({ type: 'x', source: '/src', subject: 'a b"%é', myext: 'v 1', datacontenttype: 'text/plain', data: 'hello' })
  const got = await echo(HTTP.binary(odd))
  t.match(got.attributes, { specversion: '1.0', id: odd.id, type: 'x', source: '/src', subject: 'a b"%é', myext: 'v 1', datacontenttype: 'text/plain' })
  t.equal(got.data, 'hello')
  // out: percent-encoded as the binding says (3.1.3.2; the JavaScript SDK neither encodes nor decodes)
  t.equal((await post(port, HTTP.binary(odd))).headers['ce-subject'], 'a%20b%22%25%C3%A9')

  // structured, binary data: data_base64 → bytes
  const bin = new CloudEvent({ type: 'x', source: '/src', datacontenttype: 'application/octet-stream', data: Buffer.from([0, 1, 254, 255]) })
  t.equal((await echo(HTTP.structured(bin))).data, 'bytes:AAH+/w==')

  // no data, an attribute of another type; None → 202
  const empty = await post(port, HTTP.binary(new CloudEvent({ type: 'empty', source: '/src' })))
  t.equal(empty.status, 200)
  t.match(empty.headers, { 'ce-type': 't.empty', 'ce-flag': 'true' })
  t.equal(empty.body, '')
  t.match(await post(port, HTTP.binary(new CloudEvent({ type: 'quiet', source: '/src' }))), { status: 202, body: '' })

  // refusals: 400 with what is wrong
  t.match(await send(port, '/', { headers: { 'ce-specversion': '1.0', 'ce-type': 'x', 'ce-source': '/s' } }), { status: 400, body: 'invalid CloudEvent: missing required attribute id' })
  t.match(await send(port, '/', { headers: { 'ce-specversion': '2.0', 'ce-type': 'x', 'ce-source': '/s', 'ce-id': '1' } }), { status: 400, body: /specversion '2\.0' is not supported/ })
  t.match(await send(port, '/', { headers: { 'content-type': 'application/cloudevents+json' }, body: '{nope' }), { status: 400, body: /^invalid CloudEvent: / })
  t.match(await send(port, '/', { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]' }), { status: 400, body: /send one event a request/ })
})
