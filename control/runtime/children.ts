// Orphan guard: every live child (instances and exec probes) is SIGKILLed if the gateway process
// exits, even on an uncaught exception, so no app keeps holding its port after Sluice is gone.
import type { ChildProcess } from 'node:child_process'

const live = new Set<ChildProcess>()
let hooked = false

function killAll(): void {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch { /* already gone */ }
  }
  live.clear()
}

export function track(child: ChildProcess): void {
  if (child.pid === undefined) return // never started: nothing to kill
  if (!hooked) {
    hooked = true
    process.on('exit', killAll)
  }
  live.add(child)
  child.once('exit', () => live.delete(child))
}

/** How many tracked children are still running (tests). */
export function liveChildren(): number {
  return live.size
}
