// A Logger that scrubs the current configuration's secret values (and URL passwords) from every
// message and field before they are written: an error quoting a key, a plugin logging its own
// config, or a local process printing an env var taken from a Secret stays out of the logs.
// Values are known once a configuration is applied; a load's own errors are kept from quoting
// secrets where they are made (the schema helpers never quote a secret field).
import type { Logger } from '../../gateway/log.ts'
import type { LiveRedaction, Redactor } from './redact.ts'

/** a copy with strings scrubbed; a value JSON cannot copy (a cycle) is left to the logger as it is */
function scrubValue(r: Redactor, v: object): unknown {
  try {
    return r.scrub(v)
  } catch {
    return v
  }
}

export function scrubbingLogger(log: Logger, redaction: LiveRedaction): Logger {
  const clean = (fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined => {
    if (fields === undefined) return undefined
    const r = redaction.current
    const out: Record<string, unknown> = {}
    for (const k in fields) {
      const v = fields[k]
      out[k] = typeof v === 'string' ? r.scrubText(v) : v instanceof Error ? r.scrubText(v.message) : typeof v === 'object' && v !== null ? scrubValue(r, v) : v
    }
    return out
  }
  return {
    debug: (m, f) => log.debug(redaction.current.scrubText(m), clean(f)),
    info: (m, f) => log.info(redaction.current.scrubText(m), clean(f)),
    warn: (m, f) => log.warn(redaction.current.scrubText(m), clean(f)),
    error: (m, f) => log.error(redaction.current.scrubText(m), clean(f)),
  }
}
