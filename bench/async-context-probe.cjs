// A diagnostic preload for a gateway under load: does anything put a value in Node 24's
// AsyncContextFrame (AsyncLocalStorage run/enterWith), enable async_hooks, or subscribe to a
// diagnostics_channel? Any of these would make every nextTick, timer and promise of the process
// pay. Every 2 s it writes to $PROBE_DIR/async-context-<pid>.txt (PROBE_DIR defaults to the OS temp dir):
// how many process.nextTick calls saw a non-empty frame, the async_hooks state, and the stack of
// every AsyncLocalStorage run/enterWith, createHook, channel subscribe and bindStore call.
//   BENCH_NODE_ARGS="--expose-internals --require $PWD/bench/async-context-probe.cjs" node bench/tracing.ts
// (--expose-internals gives it internal/async_context_frame and internal/async_hooks.)
'use strict'
const ACF = require('internal/async_context_frame')
const ah = require('internal/async_hooks')
const hooks = require('node:async_hooks')
const dc = require('node:diagnostics_channel')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const out = path.join(process.env.PROBE_DIR || os.tmpdir(), `async-context-${process.pid}.txt`)
const calls = new Map()
const note = (what) => {
  const key = `${what}\n${new Error().stack.split('\n').slice(3, 13).join('\n')}`
  calls.set(key, (calls.get(key) || 0) + 1)
}
for (const m of ['run', 'enterWith']) {
  const orig = hooks.AsyncLocalStorage.prototype[m]
  hooks.AsyncLocalStorage.prototype[m] = function (...a) { note(`AsyncLocalStorage.${m}`); return orig.apply(this, a) }
}
const createHook = hooks.createHook
hooks.createHook = function (...a) { note('async_hooks.createHook'); return createHook.apply(this, a) }
const Channel = Object.getPrototypeOf(dc.channel('sluice.async-context-probe'))
for (const m of ['subscribe', 'bindStore']) {
  const orig = Channel[m]
  if (orig !== undefined) Channel[m] = function (...a) { note(`channel ${String(this.name)}.${m}`); return orig.apply(this, a) }
}
const dcSubscribe = dc.subscribe
dc.subscribe = function (name, fn) { note(`diagnostics_channel.subscribe ${String(name)}`); return dcSubscribe.call(this, name, fn) }

let ticks = 0
let nonEmpty = 0
const nextTick = process.nextTick
process.nextTick = function (...a) {
  ticks++
  const f = ACF.current()
  if (f !== undefined && f.size > 0) nonEmpty++
  return nextTick.apply(this, a)
}

setInterval(() => {
  let s = `process.nextTick calls ${ticks}, with a non-empty AsyncContextFrame ${nonEmpty}\n`
  s += `async_hooks: init hooks ${ah.initHooksExist()}, enabled hooks ${ah.enabledHooksExist()}, destroy hooks ${ah.destroyHooksExist()}\n`
  for (const [k, n] of calls) s += `--- ${n}× ${k}\n`
  fs.writeFileSync(out, s)
}, 2000).unref()
