// Knative's runtime contract for a local process: what it is run as, where, with which
// environment, and which protocol it speaks.
import { resolve } from 'node:path'
import type { Container } from '../resources/types.ts'
import type { RuntimeRevision } from './types.ts'

/** Knative's default containerPort when none is declared. */
export const DEFAULT_CONTAINER_PORT = 8080

/** command[0] is run directly (no shell); args follow command's own arguments, like ENTRYPOINT + CMD. */
export function commandLine(container: Container): { file: string; args: string[] } {
  const command = container.command ?? []
  if (command.length === 0) throw new Error('container has no command')
  return { file: command[0]!, args: [...command.slice(1), ...(container.args ?? [])] }
}

/** workingDir relative to the gateway's cwd; the gateway's cwd when unset. */
export function workingDir(container: Container): string {
  return resolve(process.cwd(), container.workingDir ?? '.')
}

/** The first port's name selects the protocol (`h2c`, else HTTP/1.1). */
export function protocolOf(container: Container): 'http1' | 'h2c' {
  return container.ports?.[0]?.name === 'h2c' ? 'h2c' : 'http1'
}

/** The declared port: documentation only locally, the app binds $PORT. Probes naming it mean $PORT. */
export function containerPort(container: Container): number {
  return container.ports?.[0]?.containerPort ?? DEFAULT_CONTAINER_PORT
}

/**
 * The gateway's environment (a local process needs PATH, HOME…), then the container's env,
 * then the contract variables, which always win like Knative's reserved names. The env is literal
 * here: the control loop resolved Secret/ConfigMap references and envFrom (resources/env.ts).
 */
export function instanceEnv(revision: RuntimeRevision, port: number, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v
  for (const e of revision.container.env ?? []) env[e.name] = e.value ?? ''
  env.PORT = String(port)
  env.K_SERVICE = revision.service
  env.K_CONFIGURATION = revision.configuration
  env.K_REVISION = revision.name
  return env
}
