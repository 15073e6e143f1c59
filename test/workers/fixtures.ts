// Shared pieces of the --workers tests: a plugin that names the worker thread that ran it (and can
// make that worker throw), a request helper that says which connection answered, and the admin's
// /debug/workers view.
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import type { SluiceProcess } from '../fixtures/sluice.ts'

const API = fileURLToPath(new URL('../../plugins/api.ts', import.meta.url))

/**
 * A plugin module: `x-worker: <threadId>` on the upstream request and on the response (plugins run
 * in the worker that serves the request); a request with `x-crash: 1` makes that worker throw.
 */
export const STAMP_PLUGIN = `import { threadId } from 'node:worker_threads'
import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'stamp', priority: 1, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create() {
    return {
      onRequest(ctx) {
        if (ctx.req.headers['x-crash'] === '1') setTimeout(() => { throw new Error('a worker crash the test asked for') }, 0)
        ctx.requestHeaders.set('x-worker', String(threadId))
      },
      onResponseHeaders(ctx) { ctx.responseHeaders.set('x-worker', String(threadId)) },
    }
  },
})
`

export const STAMP_OBJECT = `apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata: {name: stamp, namespace: default}
spec: {plugin: ./stamp.ts, config: {}}
`

export interface Answer {
  status: number
  body: string
  /** the worker thread that served it (the stamp plugin's header), or '' */
  worker: string
  /** the client side port of the connection, and whether it was reused */
  localPort: number
  reused: boolean
}

export function get(port: number, host: string, path = '/', opts: { agent?: http.Agent | false; headers?: http.OutgoingHttpHeaders; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { ...opts.headers, host }, agent: opts.agent ?? false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, worker: String(res.headers['x-worker'] ?? ''), localPort: req.socket?.localPort ?? 0, reused: req.reusedSocket }))
      res.on('error', reject)
    })
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`request to ${host}${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

export interface WorkerView { index: number; listening: boolean; restarts: number; threadId?: number; version?: number; inflight?: number; requests?: number }
export interface WorkersView { count: number; table: number; workers: WorkerView[] }

export async function workers(s: SluiceProcess): Promise<WorkersView> {
  const r = await s.admin('/debug/workers')
  return JSON.parse(r.body) as WorkersView
}
