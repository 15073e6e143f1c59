#!/usr/bin/env node
// Sluice's function runtime for Node and TypeScript functions, in the shape of Knative's
// faas-js-runtime: it loads the function's handler module and serves it on $PORT.
//
//   node node-runtime.mjs [FUNCTION_DIR]
//
// The function folder is the first argument; without one, the working directory when it holds a
// func.yaml (a snapshot built from `sluice.dev/source` runs there), else $SLUICE_FUNCTION_DIR
// (relative to the working directory). The handler module is package.json's "main", else index.js,
// index.mjs or index.ts (Node runs TypeScript by stripping types). It exports
// `handle(context, body)`; a request that carries a CloudEvent (binary or structured mode) calls
// `handle(context, cloudevent)` instead, and a CloudEvent-shaped return value ({type, source, data…})
// is the reply, in binary mode.
//
// Plain JavaScript so it runs under any Node ≥ 22, from a checkout or an installed package.
import http from 'node:http'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { CloudEvent, HTTP } from 'cloudevents'

const MAX_BODY = Number(process.env.FUNC_MAX_BODY_BYTES ?? 10 * 1024 * 1024)
const HANDLER_FILES = ['index.js', 'index.mjs', 'index.ts']

/** The folder the function lives in (see the header). */
export function functionDir(argv = process.argv.slice(2), env = process.env, cwd = process.cwd()) {
  if (argv[0] !== undefined) return path.resolve(cwd, argv[0])
  if (existsSync(path.join(cwd, 'func.yaml'))) return cwd
  if (env.SLUICE_FUNCTION_DIR) return path.resolve(cwd, env.SLUICE_FUNCTION_DIR)
  return cwd
}

/** package.json "main", else the first of index.js, index.mjs, index.ts that exists. */
export function handlerFile(dir) {
  const pkgFile = path.join(dir, 'package.json')
  if (existsSync(pkgFile)) {
    const main = JSON.parse(readFileSync(pkgFile, 'utf8')).main
    if (typeof main === 'string' && existsSync(path.join(dir, main))) return path.join(dir, main)
  }
  for (const f of HANDLER_FILES) if (existsSync(path.join(dir, f))) return path.join(dir, f)
  throw new Error(`no handler in ${dir}: expected package.json "main", or one of ${HANDLER_FILES.join(', ')}, exporting handle(context, body)`)
}

/** One JSON line a record on stdout (stderr for warn/error), with the function's name. */
function createLog(name) {
  const write = (level, stream) => (msg, fields) => {
    const rec = { level, time: new Date().toISOString(), function: name, msg: typeof msg === 'string' ? msg : JSON.stringify(msg), ...fields }
    stream.write(JSON.stringify(rec) + '\n')
  }
  return { debug: write('debug', process.stdout), info: write('info', process.stdout), warn: write('warn', process.stderr), error: write('error', process.stderr) }
}

/** The body parsed by its content type: JSON → value, form → object, text → string, else a Buffer. */
export function parseBody(buf, contentType = '') {
  if (buf.length === 0) return undefined
  const type = contentType.split(';')[0].trim().toLowerCase()
  if (type === 'application/json' || type.endsWith('+json')) return JSON.parse(buf.toString('utf8'))
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(buf.toString('utf8')))
  if (type.startsWith('text/') || type === '') return buf.toString('utf8')
  return buf
}

function isCloudEventShaped(v) {
  return v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && typeof v.type === 'string' && typeof v.source === 'string'
}

function isResponseShaped(v) {
  return v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && ('statusCode' in v || 'headers' in v)
}

/** A handler's return value → status, headers, bytes. */
const TEXT = { 'content-type': 'text/plain; charset=utf-8' }

function encode(result) {
  if (result === undefined || result === null) return { status: 204, headers: {}, body: Buffer.alloc(0) }
  if (typeof result === 'string') return { status: 200, headers: TEXT, body: Buffer.from(result) }
  let status = 200
  let headers = {}
  let body = result
  if (isResponseShaped(result)) {
    status = Number(result.statusCode ?? 200)
    headers = { ...result.headers }
    body = result.body
  }
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]))
  let bytes
  if (body === undefined || body === null) bytes = Buffer.alloc(0)
  else if (Buffer.isBuffer(body) || body instanceof Uint8Array) { bytes = Buffer.from(body); lower['content-type'] ??= 'application/octet-stream' }
  else if (typeof body === 'string') { bytes = Buffer.from(body); lower['content-type'] ??= 'text/plain; charset=utf-8' }
  else { bytes = Buffer.from(JSON.stringify(body)); lower['content-type'] ??= 'application/json' }
  return { status, headers: lower, body: bytes }
}

function send(res, { status, headers, body }) {
  res.statusCode = status
  for (const k in headers) res.setHeader(k, headers[k])
  res.setHeader('content-length', body.length)
  res.end(body)
}

export async function start({ dir = functionDir(), port = Number(process.env.PORT ?? 8080), host = process.env.FUNC_HOST ?? '127.0.0.1' } = {}) {
  const file = handlerFile(dir)
  const mod = await import(pathToFileURL(file).href)
  const handle = mod.handle ?? mod.default?.handle ?? (typeof mod.default === 'function' ? mod.default : undefined)
  if (typeof handle !== 'function') throw new Error(`${file} does not export a function handle(context, body)`)
  const name = process.env.K_SERVICE ?? path.basename(dir)
  const log = createLog(name)
  // faas-js-runtime's optional lifecycle hooks.
  if (typeof mod.init === 'function') await mod.init()
  let shuttingDown = false

  const EMPTY = Buffer.alloc(0)
  const fail = (res, err) => {
    log.error('handler failed', { error: err?.stack ?? String(err) })
    const status = Number.isInteger(err?.statusCode) && err.statusCode >= 400 ? err.statusCode : 500
    send(res, encode({ statusCode: status, body: status === 500 ? 'Internal Server Error' : String(err.message) }))
  }
  // A synchronous handler's answer is sent without a promise in between (the common case is cheap).
  const run = (req, res, target, raw) => {
    let out
    try {
      out = invoke(req, target, raw)
    } catch (err) {
      return fail(res, err)
    }
    if (out instanceof Promise) out.then((o) => send(res, o), (err) => fail(res, err))
    else send(res, out)
  }

  const server = http.createServer((req, res) => {
    const target = req.url ?? '/'
    if (target === '/health/liveness') return send(res, encode({ statusCode: 200, body: 'OK' }))
    if (target === '/health/readiness') {
      return send(res, encode(shuttingDown ? { statusCode: 503, body: 'shutting down' } : { statusCode: 200, body: 'OK' }))
    }
    // no body (a GET): no buffering, the handler runs at once
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      req.resume()
      return void run(req, res, target, EMPTY)
    }
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size <= MAX_BODY) chunks.push(c)
    })
    req.on('end', () => {
      if (size > MAX_BODY) return send(res, encode({ statusCode: 413, body: `request body over ${MAX_BODY} bytes` }))
      run(req, res, target, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
    })
  })

  /** The encoded answer, or a promise of it when the handler is async or the request is an event. */
  function invoke(req, target, raw) {
    const headers = req.headers
    const q = target.indexOf('?')
    const context = {
      method: req.method,
      headers,
      query: q === -1 ? {} : Object.fromEntries(new URLSearchParams(target.slice(q + 1))),
      path: q === -1 ? target : target.slice(0, q),
      httpVersion: req.httpVersion,
      log,
      body: undefined,
      rawBody: raw,
      cloudevent: undefined,
    }
    let event
    // a cheap look at the headers first: plain HTTP requests never pay for the CloudEvents binding
    const carriesEvent = headers['ce-specversion'] !== undefined || (headers['content-type'] ?? '').startsWith('application/cloudevents')
    const message = carriesEvent ? { headers, body: raw.length === 0 ? undefined : raw.toString('utf8') } : undefined
    if (message !== undefined && HTTP.isEvent(message)) {
      try {
        event = HTTP.toEvent(message)
      } catch (err) {
        return encode({ statusCode: 400, body: `invalid CloudEvent: ${err.message}` })
      }
      context.cloudevent = event
      context.body = event.data
      return invokeEvent(context, event)
    }
    try {
      context.body = parseBody(raw, headers['content-type'])
    } catch (err) {
      return encode({ statusCode: 400, body: `request body is not valid ${headers['content-type']}: ${err.message}` })
    }
    const result = handle(context, context.body)
    return typeof result?.then === 'function' ? Promise.resolve(result).then(encode) : encode(result)
  }

  async function invokeEvent(context, event) {
    const result = await handle(context, event)
    if (isCloudEventShaped(result)) {
      const reply = result instanceof CloudEvent ? result : new CloudEvent({ id: randomUUID(), ...result })
      const out = HTTP.binary(reply)
      const body = out.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(out.body) ? out.body : Buffer.from(typeof out.body === 'string' ? out.body : JSON.stringify(out.body))
      return { status: 200, headers: Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k.toLowerCase(), String(v)])), body }
    }
    return result === undefined ? { status: 202, headers: {}, body: Buffer.alloc(0) } : encode(result)
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const address = server.address()
  process.stderr.write(`function ${name} (${path.relative(dir, file)}) listening on http://${host}:${address.port}\n`)

  /** SIGTERM: readiness turns 503, in-flight requests finish, idle connections close, then exit. */
  async function shutdown() {
    if (shuttingDown) return
    shuttingDown = true
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeIdleConnections()
    const timer = setTimeout(() => server.closeAllConnections(), Number(process.env.FUNC_SHUTDOWN_GRACE_MS ?? 10_000))
    timer.unref()
    await closed
    if (typeof mod.shutdown === 'function') await mod.shutdown()
  }
  return { server, port: address.port, shutdown }
}

// Run as a program (not imported by a test).
// (Node names the main module by its real path; argv[1] may go through a symlink, e.g. npm's bin links.)
const main = process.argv[1] === undefined ? '' : pathToFileURL(existsSync(process.argv[1]) ? realpathSync(process.argv[1]) : process.argv[1]).href
if (import.meta.url === main) {
  start().then((fn) => {
    const stop = () => fn.shutdown().then(() => process.exit(0), (err) => { process.stderr.write(`${err?.stack ?? err}\n`); process.exit(1) })
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  }, (err) => {
    process.stderr.write(`function runtime: ${err?.message ?? err}\n`)
    process.exit(1)
  })
}
