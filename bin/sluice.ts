#!/usr/bin/env node
// The sluice command: serve, validate, get/describe/logs, --help, --version.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { availableParallelism } from 'node:os'
import { parseGoDuration } from '../lib/duration.ts'
import { KN_COMMANDS, KN_HELP, KN_HELP_DETAIL, UsageError, runKnCommand } from './cli/kn-commands.ts'
import { FUNC_HELP, FUNC_HELP_DETAIL, runFuncCommand } from './cli/func/func-command.ts'
import { createLogger, logFormat, parseLogFormat, type Logger } from '../gateway/log.ts'

const HELP = `sluice — a Knative-style serverless ingress

Usage:
  sluice serve [--config DIR] [--kubernetes [--kubeconfig FILE] [--ingress-class CLASS]
               [--knative-namespace knative-serving]] [--state DIR] [--port 8080] [--internal-port 8081]
               [--tls-port 8443] [--internal-tls-port 8444] [--host 0.0.0.0] [--internal-host 127.0.0.1]
               [--admin-port 9090] [--admin-host 127.0.0.1] [--admin-allowed-host NAME]...
               [--admin-metrics-public] [--workers N|auto]
  sluice validate DIR
${KN_HELP}${FUNC_HELP}  sluice --help | --version

serve      Route traffic for the Knative resources in DIR, reloading on every change.
           --kubernetes: be the cluster's Knative ingress (KIngress of --ingress-class, default
           sluice.ingress.networking.knative.dev) and the broker for Brokers of class sluice.dev/memory
           or sluice.dev/jetstream, with or without --config. The cluster is the
           pod's service account, else $KUBECONFIG or ~/.kube/config, or --kubeconfig FILE.
           POD_NAMESPACE (default sluice-system) holds the sluice Services and the leader Lease.
           --state keeps generated revisions and their history (default: .sluice-state).
           --host: address of the public listeners. --internal-host: address of the internal
           listener (cluster-local routes); in Kubernetes use 0.0.0.0, the pod network is the
           boundary there.
           --tls-port and --internal-tls-port (cluster-local routes, on the internal host) open
           once a certificate for them is configured.
           --admin-host: address of the admin listener. It answers only requests whose Host is
           an IP address, localhost, or a name given with --admin-allowed-host (repeat it or
           separate names with commas); others get 421 (DNS rebinding).
           With SLUICE_ADMIN_TOKEN set, admin requests need "Authorization: Bearer <token>",
           except /healthz and /readyz, and /metrics with --admin-metrics-public.
           --workers N|auto: N gateway worker threads (auto: one per available core) share
           the public and internal ports; this process keeps the control loop, autoscaler,
           local runtime and admin listener (docs/workers.md). Without it, one process serves.
           The log goes to stderr: SLUICE_LOG_LEVEL debug|info|warn|error (default info),
           SLUICE_LOG_FORMAT logfmt|json (default logfmt; json: one pino-style record a line).
validate   Check DIR: prints every error as file:line:column field.path: message and exits 1,
           or a summary of services, routes and hosts and exits 0.
${KN_HELP_DETAIL}${FUNC_HELP_DETAIL}`

function version(): string {
  // bin/ in a checkout, dist/bin/ in an installed package: the nearest package.json above is ours.
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string }
      if (pkg.name === 'sluice') return pkg.version
    } catch { /* not there: look further up */ }
  }
  return 'unknown'
}

function port(v: string | undefined, def: number, flag: string): number {
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) usage(`${flag} must be a port number (0-65535), got ${JSON.stringify(v)}`)
  return n
}

/** `--admin-allowed-host a,b --admin-allowed-host c` → [a, b, c] */
function hostNames(flags: readonly string[]): string[] {
  const names = flags.flatMap((f) => f.split(',')).map((n) => n.trim()).filter((n) => n !== '')
  for (const n of names) {
    if (!/^[A-Za-z0-9.-]+$/.test(n)) usage(`--admin-allowed-host takes host names such as admin.example.com (no port or scheme), got ${JSON.stringify(n)}`)
  }
  return names
}

/** `--workers N|auto`: worker threads (auto: the cores this process may use); 0 when absent. */
function workerCount(v: string | undefined): number {
  if (v === undefined) return 0
  if (v === 'auto') return availableParallelism()
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 1024) usage(`--workers takes a number of worker threads (1-1024) or auto (one per core), got ${JSON.stringify(v)}`)
  return n
}

/** SLUICE_ADMIN_TOKEN; set but empty is refused rather than read as "no token". */
function adminToken(): string | undefined {
  const token = process.env.SLUICE_ADMIN_TOKEN
  if (token === undefined) return undefined
  if (token.trim() === '' || /\s/.test(token)) usage('SLUICE_ADMIN_TOKEN is empty or has spaces; unset it, or set a token such as the output of: openssl rand -hex 32')
  return token
}

/**
 * SLUICE_LEASE_DURATION / _RENEW_DEADLINE / _RETRY_PERIOD (Go durations): client-go's 15s/10s/2s
 * unless set; tests shorten them.
 */
function leaseTimings(): { lease?: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number } } {
  const { SLUICE_LEASE_DURATION: d, SLUICE_LEASE_RENEW_DEADLINE: r, SLUICE_LEASE_RETRY_PERIOD: p } = process.env
  if (d === undefined && r === undefined && p === undefined) return {}
  const ms = (v: string | undefined, def: number, name: string): number => {
    if (v === undefined) return def
    const n = parseGoDuration(v)
    if (n === undefined || n <= 0) usage(`${name} must be a duration such as 15s, got ${JSON.stringify(v)}`)
    return n
  }
  return { lease: { durationMs: ms(d, 15_000, 'SLUICE_LEASE_DURATION'), renewDeadlineMs: ms(r, 10_000, 'SLUICE_LEASE_RENEW_DEADLINE'), retryPeriodMs: ms(p, 2_000, 'SLUICE_LEASE_RETRY_PERIOD') } }
}

function usage(msg: string): never {
  // SLUICE_LOG_FORMAT=json: stderr is read by a machine, which wants the error, not the help.
  if (logFormat() === 'json') createLogger().error(`sluice: ${msg}`)
  else process.stderr.write(`sluice: ${msg}\n\n${HELP}`)
  process.exit(2)
}

/** SLUICE_LOG_FORMAT: logfmt (default) or json; anything else is refused rather than guessed. */
function checkLogFormat(): void {
  const v = process.env.SLUICE_LOG_FORMAT
  if (parseLogFormat(v) === undefined) usage(`SLUICE_LOG_FORMAT must be logfmt or json, got ${JSON.stringify(v)}`)
}

/**
 * With SLUICE_LOG_FORMAT=json, Node's own warnings (deprecations, MaxListeners…) become log records
 * too instead of free text on stderr.
 */
function warningsToLog(log: Logger): void {
  if (logFormat() !== 'json') return
  process.removeAllListeners('warning')
  process.on('warning', (w: Error & { code?: string }) => log.warn(w.message, { type: w.name, code: w.code }))
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] !== undefined && (KN_COMMANDS.has(argv[0]) || argv[0] === 'func')) {
    try {
      process.exitCode = argv[0] === 'func' ? await runFuncCommand(argv.slice(1)) : await runKnCommand(argv)
    } catch (err) {
      if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) usage((err as Error).message)
      throw err
    }
    return
  }
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
        'internal-tls-port': { type: 'string' },
        'admin-port': { type: 'string' },
        'admin-host': { type: 'string' },
        'admin-allowed-host': { type: 'string', multiple: true },
        'admin-metrics-public': { type: 'boolean' },
        host: { type: 'string' },
        'internal-host': { type: 'string' },
        workers: { type: 'string' },
        kubernetes: { type: 'boolean' },
        kubeconfig: { type: 'string' },
        'ingress-class': { type: 'string' },
        'knative-namespace': { type: 'string' },
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
      checkLogFormat()
      const log = createLogger()
      warningsToLog(log)
      const configDir = values.config ?? rest[0]
      if (configDir === undefined && !values.kubernetes) usage('serve needs --config DIR, --kubernetes, or both')
      for (const flag of ['kubeconfig', 'ingress-class', 'knative-namespace'] as const) {
        if (values[flag] !== undefined && !values.kubernetes) usage(`--${flag} is for --kubernetes`)
      }
      // loaded here, not at the top: the gateway, the Kubernetes client and the exporters are most of
      // the program, and `sluice func …`, `get`, `--version` need none of them (a deploy's CLI starts
      // in a fraction of the time)
      const { serve } = await import('../control/serve.ts')
      const { SLUICE_INGRESS_CLASS } = await import('../control/sources/kubernetes/kubernetes-source.ts')
      const running = await serve({
        ...(configDir !== undefined ? { configDir } : {}),
        ...(values.kubernetes ? {
          kubernetes: {
            ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
            ingressClass: values['ingress-class'] ?? SLUICE_INGRESS_CLASS,
            knativeNamespace: values['knative-namespace'] ?? 'knative-serving',
            namespace: process.env.POD_NAMESPACE || 'sluice-system',
            ...(process.env.POD_NAME ? { identity: process.env.POD_NAME } : {}),
            ...leaseTimings(),
          },
        } : {}),
        stateDir: values.state ?? process.env.SLUICE_STATE_DIR ?? path.resolve('.sluice-state'),
        port: port(values.port, 8080, '--port'),
        internalPort: port(values['internal-port'], 8081, '--internal-port'),
        tlsPort: port(values['tls-port'], 8443, '--tls-port'),
        internalTlsPort: port(values['internal-tls-port'], 8444, '--internal-tls-port'),
        adminPort: port(values['admin-port'], 9090, '--admin-port'),
        adminHost: values['admin-host'] ?? '127.0.0.1',
        adminAllowedHosts: hostNames(values['admin-allowed-host'] ?? []),
        adminToken: adminToken(),
        adminMetricsPublic: values['admin-metrics-public'] ?? false,
        host: values.host,
        internalHost: values['internal-host'] ?? '127.0.0.1',
        workers: workerCount(values.workers),
        log,
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
      const { validate } = await import('../control/validate-command.ts')
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
  if (logFormat() === 'json') createLogger().error(`sluice: ${(err as Error).message}`)
  else process.stderr.write(`sluice: ${(err as Error).message}\n`)
  process.exit(1)
})
