// Readiness probes for a local instance, with Knative's queue-proxy timing: while an instance is
// starting it is probed aggressively (see instance.ts); once ready, kubelet-style every periodSeconds.
import { spawn } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Probe } from '../resources/types.ts'
import { track } from './children.ts'

/** The queue-proxy's per-attempt timeout while probing aggressively (periodSeconds 0). */
export const AGGRESSIVE_TIMEOUT_MS = 100

export interface ProbeTarget {
  /** the instance's $PORT */
  port: number
  env: Record<string, string>
  cwd: string
}

export interface ProbePlan {
  /** for logs and failure messages, e.g. `httpGet :PORT/healthz` */
  readonly description: string
  readonly check: (target: ProbeTarget, timeoutMs: number) => Promise<boolean>
  /** per-attempt timeout while starting */
  readonly startingTimeoutMs: number
  /** per-attempt timeout once ready */
  readonly readyTimeoutMs: number
  /** interval between probes once ready */
  readonly periodMs: number
  /** consecutive failures that take a ready instance out of rotation */
  readonly failureThreshold: number
  readonly initialDelayMs: number
}

/**
 * A numeric port other than the declared containerPort is probed as is; unset, 0, a named port or
 * the containerPort mean the instance's $PORT (Knative only allows the user port anyway).
 */
export function probePort(port: number | string | undefined, target: number, declared: number): number {
  if (typeof port !== 'number' || port === 0 || port === declared) return target
  return port
}

export function planProbe(probe: Probe | undefined, declaredPort: number): ProbePlan {
  const p = probe ?? {}
  const timeoutMs = Math.max(1, p.timeoutSeconds ?? 1) * 1000
  // Knative: periodSeconds 0/unset means the aggressive probe with its 100 ms timeout; an explicit
  // period means kubelet semantics, where timeoutSeconds applies to every attempt.
  const aggressive = (p.periodSeconds ?? 0) === 0
  const periodMs = Math.max(1, p.periodSeconds || 10) * 1000
  const timing = {
    readyTimeoutMs: timeoutMs,
    periodMs,
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
    initialDelayMs: Math.max(0, p.initialDelaySeconds ?? 0) * 1000,
  }
  if (p.exec !== undefined) {
    const command = p.exec.command
    // An exec probe spawns a process, which alone can take most of 100 ms: always use timeoutSeconds.
    return { ...timing, description: `exec ${JSON.stringify(command)}`, startingTimeoutMs: timeoutMs, check: (t, ms) => execCheck(command, t, ms) }
  }
  const startingTimeoutMs = aggressive ? Math.min(timeoutMs, AGGRESSIVE_TIMEOUT_MS) : timeoutMs
  if (p.httpGet !== undefined) {
    const get = p.httpGet
    const path = get.path === undefined || get.path === '' ? '/' : get.path.startsWith('/') ? get.path : `/${get.path}`
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.31', 'k-kubelet-probe': 'queue' }
    for (const h of get.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value
    const secure = (get.scheme ?? 'HTTP').toUpperCase() === 'HTTPS'
    return {
      ...timing,
      startingTimeoutMs,
      description: `httpGet ${secure ? 'https' : 'http'}://127.0.0.1:${portLabel(get.port, declaredPort)}${path}`,
      check: (t, ms) => httpCheck(secure, probePort(get.port, t.port, declaredPort), path, headers, ms),
    }
  }
  const tcpPort = p.tcpSocket?.port
  return {
    ...timing,
    startingTimeoutMs,
    description: `tcpSocket 127.0.0.1:${portLabel(tcpPort, declaredPort)}`,
    check: (t, ms) => tcpCheck(probePort(tcpPort, t.port, declaredPort), ms),
  }
}

function portLabel(port: number | string | undefined, declared: number): string {
  return probePort(port, -1, declared) === -1 ? '$PORT' : String(port)
}

/** 2xx and 3xx pass, like kubelet (redirects are not followed). */
export function httpCheck(secure: boolean, port: number, path: string, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false
    const done = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(ok)
    }
    const options = { host: '127.0.0.1', port, path, method: 'GET', headers, agent: false as const }
    const req = secure ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options)
    const timer = setTimeout(() => done(false), timeoutMs)
    req.on('response', (res) => {
      const status = res.statusCode ?? 0
      res.resume()
      done(status >= 200 && status < 400)
    })
    req.on('error', () => done(false))
    req.end()
  })
}

export function tcpCheck(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false
    const done = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const socket = net.connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Exit 0 passes; the command runs without a shell, in the instance's cwd and environment. */
export function execCheck(command: string[], target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (command.length === 0) return resolve(false)
    let settled = false
    const done = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(ok)
    }
    const child = spawn(command[0]!, command.slice(1), { cwd: target.cwd, env: target.env, stdio: 'ignore', detached: false })
    track(child)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      done(false)
    }, timeoutMs)
    child.once('error', () => done(false))
    child.once('exit', (code) => done(code === 0))
  })
}
