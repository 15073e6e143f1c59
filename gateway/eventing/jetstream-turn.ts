// One setImmediate per turn of the event loop for everything the JetStream backing batches (the
// publisher's publishes, every trigger's settlements). The NATS client writes what was queued at
// the end of the callback that queued it (a microtask), so batchers flushed from separate
// setImmediate callbacks cost a socket write each; flushed from this one callback they share one.
const due: (() => void)[] = []
let scheduled = false

function runDue(): void {
  scheduled = false
  // a flush that queues more for the next turn registers again; take only what is due now
  const n = due.length
  for (let i = 0; i < n; i++) {
    // the flushes catch their own failures; one that still throws must not hold up the others
    try { due[i]() } catch (err) { queueMicrotask(() => { throw err }) }
  }
  due.splice(0, n)
}

/** Runs `flush` on the next turn, together with every other flush registered in this one. */
export function flushNextTurn(flush: () => void): void {
  due.push(flush)
  if (!scheduled) {
    scheduled = true
    setImmediate(runDue)
  }
}
