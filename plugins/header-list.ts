// Headers over a flat [name, value, name, value…] array, the form the gateway hands to undici and
// to ServerResponse.writeHead, so plugins edit the very list that is sent (no conversion).
// Edits are checked when they are made (Node's own token and field-value rules), so a CR/LF a
// plugin writes fails that plugin's call, with its name, instead of a later writeHead or dispatch.
import { validateHeaderName, validateHeaderValue } from 'node:http'
import type { Headers } from './api.ts'

export class HeaderList implements Headers {
  /** lower-case names; read by the gateway after the plugins ran */
  flat: string[]

  constructor(flat: string[] = []) {
    this.flat = flat
  }

  get(name: string): string | undefined {
    const n = name.toLowerCase()
    const f = this.flat
    for (let i = 0; i < f.length; i += 2) if (f[i] === n) return f[i + 1]
    return undefined
  }

  getAll(name: string): string[] {
    const n = name.toLowerCase()
    const f = this.flat
    const out: string[] = []
    for (let i = 0; i < f.length; i += 2) if (f[i] === n) out.push(f[i + 1])
    return out
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  set(name: string, value: string): void {
    checkField(name, value)
    this.remove(name)
    this.flat.push(name.toLowerCase(), value)
  }

  add(name: string, value: string): void {
    checkField(name, value)
    this.flat.push(name.toLowerCase(), value)
  }

  remove(name: string): void {
    const n = name.toLowerCase()
    const f = this.flat
    let i0 = 0
    while (i0 < f.length && f[i0] !== n) i0 += 2
    if (i0 >= f.length) return // nothing to remove: keep the array as it is (cheap)
    let w = i0
    for (let i = i0; i < f.length; i += 2) {
      if (f[i] === n) continue
      f[w++] = f[i]
      f[w++] = f[i + 1]
    }
    f.length = w
  }

  *entries(): IterableIterator<[string, string]> {
    const f = this.flat
    for (let i = 0; i < f.length; i += 2) yield [f[i], f[i + 1]]
  }
}

function checkField(name: string, value: string): void {
  validateHeaderName(name)
  if (typeof value !== 'string') throw new TypeError(`header ${name}: value must be a string, got ${value === null ? 'null' : typeof value}`)
  validateHeaderValue(name, value)
}
