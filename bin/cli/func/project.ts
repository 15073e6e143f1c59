// A function project on disk: its func.yaml (the shape Knative Functions' `func` CLI writes), where
// Sluice's templates and function runtimes are, and the command that runs a project.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { LANGUAGES, type Language } from '../../../control/functions/runtimes.ts'
import { UsageError } from '../kn-commands.ts'

export { LANGUAGES, NODE_RUNTIME, PYTHON_RUNTIME, TEMPLATES_DIR, runtimeCommand, type Language } from '../../../control/functions/runtimes.ts'
export const TEMPLATES = ['http', 'cloudevents'] as const
export type Template = (typeof TEMPLATES)[number]

/** func.yaml's specVersion, as Knative func 1.16 writes it. */
export const SPEC_VERSION = '0.36.0'

export interface FuncYaml {
  specVersion: string
  name: string
  runtime: Language
  /** Knative's field: `http` (default) or `cloudevent` */
  invoke?: 'http' | 'cloudevent'
  created?: string
}

/** Kubernetes' DNS-1035 label: what a Knative Service name must be. */
export function checkName(name: string, where: string): void {
  if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
    throw new UsageError(`${where}: function name ${JSON.stringify(name)} is not a valid Service name; use lower-case letters, digits and '-', starting with a letter (at most 63 characters), e.g. --name my-func`)
  }
}

export function readFuncYaml(dir: string): FuncYaml {
  const file = path.join(dir, 'func.yaml')
  if (!existsSync(file)) throw new UsageError(`${dir} is not a function: it has no func.yaml; create one with \`sluice func create ${dir}\``)
  let doc: unknown
  try {
    doc = parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`)
  }
  const f = doc as Partial<FuncYaml> | null
  if (f === null || typeof f !== 'object' || typeof f.name !== 'string') throw new UsageError(`${file}: name: missing; func.yaml needs name: <service name>`)
  checkName(f.name, `${file}: name`)
  if (!LANGUAGES.includes(f.runtime as Language)) throw new UsageError(`${file}: runtime: ${JSON.stringify(f.runtime)} is not one Sluice runs; use one of ${LANGUAGES.join(', ')}`)
  return f as FuncYaml
}
