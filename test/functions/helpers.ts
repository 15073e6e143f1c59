// Shared by the function tests: a function project from `sluice func create`, a request with a body,
// and a child process whose output is collected.
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import path from 'node:path'
import { runSluice, tempDir } from '../fixtures/sluice.ts'

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
