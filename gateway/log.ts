// A small structured logger: one line per event on stderr, `time level message key=value…`.
// Kept dependency-free; the hot path never logs per request.
export type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

function format(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (v instanceof Error) return JSON.stringify(v.message)
  return JSON.stringify(v)
}

export function createLogger(level: Level = (process.env.SLUICE_LOG_LEVEL as Level) || 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = ORDER[level] ?? ORDER.info
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < min) return
    // A multi-line message (an app's stack trace) keeps its first line here and folds the rest
    // below the fields, each indented, so every line at column 0 still starts a record.
    const nl = msg.indexOf('\n')
    let line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${nl === -1 ? msg : msg.slice(0, nl)}`
    if (fields !== undefined) for (const k in fields) if (fields[k] !== undefined) line += ` ${k}=${format(fields[k])}`
    if (nl !== -1) line += '\n  ' + msg.slice(nl + 1).replaceAll('\n', '\n  ')
    write(line + '\n')
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  }
}
