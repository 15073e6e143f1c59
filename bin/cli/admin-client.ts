// A small client of a running Sluice's admin API, the only way the CLI's get/describe/logs reach
// a server (DESIGN.md: never into a running process any other way).
import { request } from 'undici'

export const DEFAULT_ADMIN = 'http://127.0.0.1:9090'

export class AdminClient {
  readonly #base: string
  readonly #token: string | undefined

  constructor(base: string, token = process.env.SLUICE_ADMIN_TOKEN) {
    this.#base = base.replace(/\/+$/, '')
    this.#token = token === '' ? undefined : token
  }

  async json<T>(path: string): Promise<T> {
    const body = await this.#get(path)
    return JSON.parse(await body.text()) as T
  }

  /** the response body as a stream (for /debug/logs?follow=1) */
  async stream(path: string): Promise<AsyncIterable<Buffer>> {
    return this.#get(path)
  }

  async #get(path: string): Promise<Awaited<ReturnType<typeof request>>['body']> {
    let res
    try {
      res = await request(this.#base + path, { headers: this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` } })
    } catch (err) {
      throw new Error(`cannot reach the Sluice admin API at ${this.#base} (${(err as Error).message}); is \`sluice serve\` running? Point at it with --admin URL`)
    }
    if (res.statusCode !== 200) {
      const text = (await res.body.text()).trim()
      const hint = res.statusCode === 401 ? ' (set SLUICE_ADMIN_TOKEN to the server\'s admin token)' : ''
      throw new Error(`${this.#base}${path}: ${res.statusCode} ${text}${hint}`)
    }
    return res.body
  }
}
