#!/usr/bin/env node
// The sluice command: serve, validate, --help, --version.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { serve } from '../control/serve.ts'
import { validate } from '../control/validate-command.ts'

const HELP = `sluice — a Knative-style serverless ingress

Usage:
  sluice serve --config DIR [--state DIR] [--port 8080] [--internal-port 8081]
               [--tls-port 8443] [--admin-port 9090] [--admin-host 127.0.0.1] [--host 0.0.0.0]
  sluice validate DIR
  sluice --help | --version

serve      Route traffic for the Knative resources in DIR, reloading on every change.
           --state keeps generated revisions and their history (default: .sluice-state).
validate   Check DIR: prints every error as file:line:column field.path: message and exits 1,
           or a summary of services, routes and hosts and exits 0.
`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function port(v: string | undefined, def: number, flag: string): number {
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) usage(`${flag} must be a port number (0-65535), got ${JSON.stringify(v)}`)
  return n
}

function usage(msg: string): never {
  process.stderr.write(`sluice: ${msg}\n\n${HELP}`)
  process.exit(2)
}

async function main(argv: string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        state: { type: 'string' },
        port: { type: 'string' },
        'internal-port': { type: 'string' },
        'tls-port': { type: 'string' },
        'admin-port': { type: 'string' },
        'admin-host': { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    usage((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) { process.stdout.write(HELP); return }
  if (values.version) { process.stdout.write(version() + '\n'); return }
  const [command, ...rest] = positionals
  switch (command) {
    case 'serve': {
      const configDir = values.config ?? rest[0]
      if (configDir === undefined) usage('serve needs --config DIR')
      const running = await serve({
        configDir,
        stateDir: values.state ?? process.env.SLUICE_STATE_DIR ?? path.resolve('.sluice-state'),
        port: port(values.port, 8080, '--port'),
        internalPort: port(values['internal-port'], 8081, '--internal-port'),
        tlsPort: port(values['tls-port'], 8443, '--tls-port'),
        adminPort: port(values['admin-port'], 9090, '--admin-port'),
        adminHost: values['admin-host'] ?? '127.0.0.1',
        host: values.host,
      })
      const stop = (): void => {
        running.shutdown().then(() => process.exit(0), () => process.exit(1))
      }
      process.once('SIGTERM', stop)
      process.once('SIGINT', stop)
      return
    }
    case 'validate': {
      const dir = rest[0] ?? values.config
      if (dir === undefined) usage('validate needs a directory')
      process.exitCode = await validate(dir, values.state ?? process.env.SLUICE_STATE_DIR ?? path.resolve('.sluice-state'), process.stdout, process.stderr)
      return
    }
    case undefined:
      process.stdout.write(HELP)
      return
    default:
      usage(`unknown command ${JSON.stringify(command)}`)
  }
}

// `sluice validate DIR | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0) })

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`sluice: ${(err as Error).message}\n`)
  process.exit(1)
})
