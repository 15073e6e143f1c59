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

const TEXT = 'text/plain; charset=utf-8'
const EMPTY = Buffer.alloc(0)

/**
 * Answers with a handler's return value, in one writeHead (a flat header list: no header object
 * and no setHeader validation per header) and one end. A string is written as a string, so that
 * node:http sends the head and the body in one write, as a plain node:http app does.
 */
function respond(res, result) {
  if (typeof result === 'string') {
    res.writeHead(200, ['content-type', TEXT, 'content-length', Buffer.byteLength(result)])
    res.end(result)
    return
  }
  if (result === undefined || result === null) {
    res.writeHead(204)
    res.end()
    return
  }
  let status = 200
  let headers
  let body = result
  if (isResponseShaped(result)) {
    status = Number(result.statusCode ?? 200)
    headers = result.headers
    body = result.body
  }
  let type
  if (body === undefined || body === null) body = ''
  else if (typeof body === 'string') type = TEXT
  else if (body instanceof Uint8Array) type = 'application/octet-stream'
  else { body = JSON.stringify(body) ?? ''; type = 'application/json' }
  const list = []
  if (headers !== undefined && headers !== null) {
    for (const k in headers) {
      const name = k.toLowerCase()
      if (name === 'content-length') continue
      if (name === 'content-type') type = undefined
      list.push(name, String(headers[k]))
    }
  }
  if (type !== undefined) list.push('content-type', type)
  list.push('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.length)
  res.writeHead(status, list)
  res.end(body)
}

/** A plain-text answer of the runtime's own (health, errors). */
function text(res, status, body) {
  res.writeHead(status, ['content-type', TEXT, 'content-length', Buffer.byteLength(body)])
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

  function fail(res, err) {
    log.error('handler failed', { error: err?.stack ?? String(err) })
    const status = Number.isInteger(err?.statusCode) && err.statusCode >= 400 ? err.statusCode : 500
    if (res.headersSent) res.destroy()
    else text(res, status, status === 500 ? 'Internal Server Error' : String(err.message))
  }

  /** Calls the handler and answers; a synchronous handler's answer is sent without a promise in between. */
  function run(req, res, target, raw) {
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
    // a cheap look at the headers first: plain HTTP requests never pay for the CloudEvents binding
    if (headers['ce-specversion'] !== undefined || (headers['content-type'] ?? '').startsWith('application/cloudevents')) {
      const message = { headers, body: raw.length === 0 ? undefined : raw.toString('utf8') }
      if (HTTP.isEvent(message)) {
        let event
        try {
          event = HTTP.toEvent(message)
        } catch (err) {
          return text(res, 400, `invalid CloudEvent: ${err.message}`)
        }
        context.cloudevent = event
        context.body = event.data
        invokeEvent(res, context, event).catch((err) => fail(res, err))
        return
      }
    }
    if (raw.length > 0) {
      try {
        context.body = parseBody(raw, headers['content-type'])
      } catch (err) {
        return text(res, 400, `request body is not valid ${headers['content-type']}: ${err.message}`)
      }
    }
    try {
      const result = handle(context, context.body)
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        result.then((r) => { try { respond(res, r) } catch (err) { fail(res, err) } }, (err) => fail(res, err))
      } else {
        respond(res, result)
      }
    } catch (err) {
      fail(res, err)
    }
  }

  function onBody(req, res, target, chunks, size) {
    if (size > MAX_BODY) return text(res, 413, `request body over ${MAX_BODY} bytes`)
    run(req, res, target, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
  }

  const server = http.createServer((req, res) => {
    const target = req.url ?? '/'
    if (target === '/health/liveness') return text(res, 200, 'OK')
    if (target === '/health/readiness') return shuttingDown ? text(res, 503, 'shutting down') : text(res, 200, 'OK')
    // no body (a GET): no buffering, the handler runs at once (node:http discards what is left unread)
    const headers = req.headers
    if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return run(req, res, target, EMPTY)
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size <= MAX_BODY) chunks.push(c)
    })
    req.on('end', () => onBody(req, res, target, chunks, size))
  })

  /** Answers an event: a CloudEvent-shaped return value is the reply, in binary mode; nothing is 202. */
  async function invokeEvent(res, context, event) {
    const result = await handle(context, event)
    if (isCloudEventShaped(result)) {
      const reply = result instanceof CloudEvent ? result : new CloudEvent({ id: randomUUID(), ...result })
      const out = HTTP.binary(reply)
      const body = out.body === undefined ? EMPTY : Buffer.isBuffer(out.body) ? out.body : Buffer.from(typeof out.body === 'string' ? out.body : JSON.stringify(out.body))
      const list = []
      for (const k in out.headers) list.push(k.toLowerCase(), String(out.headers[k]))
      list.push('content-length', body.length)
      res.writeHead(200, list)
      res.end(body)
    } else if (result === undefined) {
      res.writeHead(202, ['content-length', 0])
      res.end()
    } else {
      respond(res, result)
    }
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
