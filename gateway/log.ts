// A small structured logger: one record per event on stderr. Two formats, one code path:
// `logfmt` for terminals (`time LEVEL message key=value…`, the default) and `json` for machines
// (SLUICE_LOG_FORMAT=json: pino's shape with `base: null`, `{"level":30,"time":…,…fields,"msg":…}`,
// so pino-pretty, Loki and the like read it as they read any pino service; no pid/hostname, which
// would collide with the fields of app instances and which every log shipper adds anyway).
// Kept dependency-free; the hot path never logs per request.
export type Level = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'logfmt' | 'json'
/** pino's level numbers */
const ORDER: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 }
const LABEL: Record<Level, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' }
export const LOG_FORMATS: readonly LogFormat[] = ['logfmt', 'json']

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** SLUICE_LOG_FORMAT, or undefined when it names no format (bin/sluice.ts refuses that at start). */
export function parseLogFormat(value: string | undefined): LogFormat | undefined {
  if (value === undefined || value === '') return 'logfmt'
  const v = value.trim().toLowerCase()
  return (LOG_FORMATS as readonly string[]).includes(v) ? v as LogFormat : undefined
}

/** The process's log format: SLUICE_LOG_FORMAT, logfmt when unset or unknown. */
export function logFormat(): LogFormat {
  return parseLogFormat(process.env.SLUICE_LOG_FORMAT) ?? 'logfmt'
}

/** JSON.stringify that never throws: cycles and BigInts become strings instead of losing the line. */
function stringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null'
  } catch {
    return JSON.stringify(String(v))
  }
}

function logfmtValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (v instanceof Error) return JSON.stringify(v.message)
  return stringify(v)
}

/** pino's err serializer: type, message, stack */
function jsonValue(v: unknown): unknown {
  if (v instanceof Error) return { type: v.name, message: v.message, ...(v.stack !== undefined ? { stack: v.stack } : {}) }
  return v
}

function formatJson(lvl: Level, msg: string, fields: Record<string, unknown> | undefined): string {
  let line = `{"level":${ORDER[lvl]},"time":${Date.now()}`
  if (fields !== undefined) {
    for (const k in fields) {
      const v = fields[k]
      if (v === undefined) continue
      // a field named like a record key keeps its value under `_name` rather than shadow the key
      const key = k === 'level' || k === 'time' || k === 'msg' ? `_${k}` : k
      line += `,${JSON.stringify(key)}:${stringify(jsonValue(v))}`
    }
  }
  return `${line},"msg":${JSON.stringify(msg)}}\n`
}

function formatLogfmt(lvl: Level, msg: string, fields: Record<string, unknown> | undefined): string {
  // A multi-line message (an app's stack trace) keeps its first line here and folds the rest
  // below the fields, each indented, so every line at column 0 still starts a record.
  const nl = msg.indexOf('\n')
  let line = `${new Date().toISOString()} ${LABEL[lvl]} ${nl === -1 ? msg : msg.slice(0, nl)}`
  if (fields !== undefined) for (const k in fields) if (fields[k] !== undefined) line += ` ${k}=${logfmtValue(fields[k])}`
  if (nl !== -1) line += '\n  ' + msg.slice(nl + 1).replaceAll('\n', '\n  ')
  return line + '\n'
}

const noop = (): void => {}

export function createLogger(
  level: Level = (process.env.SLUICE_LOG_LEVEL as Level) || 'info',
  write: (line: string) => void = (l) => process.stderr.write(l),
  format: LogFormat = logFormat(),
): Logger {
  const min = ORDER[level] ?? ORDER.info
  const render = format === 'json' ? formatJson : formatLogfmt
  // As pino does: a disabled level is a function that does nothing, so no call pays for the check.
  const at = (lvl: Level): Logger['info'] => (ORDER[lvl] < min ? noop : (m, f) => { write(render(lvl, m, f)) })
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
