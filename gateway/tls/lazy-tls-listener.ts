// A TLS port that opens the first time its CertTable has something to serve, and then serves
// whatever table it was last given (new handshakes only). The cluster-local TLS port (Kourier's
// 8444, config-network cluster-local-domain-tls) is one: closed until a certificate exists.
import type { AddressInfo } from 'node:net'
import type { Http2SecureServer } from 'node:http2'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { emptyCertTable, hasCertificates, type CertTable } from './cert-table.ts'
import { createTlsServer, type TlsRequest, type TlsResponse } from './tls-listener.ts'
import { ConnectionTable } from '../connections/connection-table.ts'
import type { ConnectionLimits } from '../connections/connection-limits.ts'
import type { Logger } from '../log.ts'

export interface LazyTlsOptions {
  /** for logs: `cluster-local TLS listening port=…` */
  readonly name: string
  readonly onRequest: (req: TlsRequest, res: TlsResponse) => void
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  readonly log: () => Logger
}

export class LazyTlsListener {
  readonly #opts: LazyTlsOptions
  #certs: CertTable = emptyCertTable()
  #server: Http2SecureServer | null = null
  #connections: ConnectionTable | null = null

  constructor(opts: LazyTlsOptions) {
    this.#opts = opts
  }

  /** Install certificates; opens on `port`/`host` with the first one (never once closed). */
  set(table: CertTable, where: { port: number; host: string; limits: ConnectionLimits } | null): void {
    this.#certs = table
    if (this.#server !== null || where === null || !hasCertificates(table)) return
    this.#connections = new ConnectionTable(where.limits)
    const log = this.#opts.log
    const server = createTlsServer(() => this.#certs, this.#opts.onRequest, {
      onTlsError: (err) => log().debug(`${this.#opts.name} TLS handshake failed`, { err }),
      onUpgrade: this.#opts.onUpgrade,
      connections: this.#connections,
    })
    this.#server = server
    server.once('error', (err) => log().error(`cannot open the ${this.#opts.name} TLS listener`, { port: where.port, err }))
    server.listen(where.port, where.host, () => {
      log().info(`${this.#opts.name} TLS listening`, { port: (server.address() as AddressInfo).port, hosts: this.#certs.hosts.length })
    })
  }

  get certs(): CertTable { return this.#certs }

  setLimits(limits: ConnectionLimits): void {
    this.#connections?.setLimits(limits)
  }

  /** Stop accepting; open connections go on. */
  stopAccepting(): void {
    this.#server?.close()
  }

  /** Cut what is still open (Node's http2 secure server has no closeAllConnections). */
  closeAll(): void {
    if (this.#server === null) return
    this.#server.close()
    this.#connections?.closeAll()
  }
}
