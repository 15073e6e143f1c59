// What reconcile keeps between passes so that one watch event costs the ingress it touches, not
// all of them: resolved Service backends (by the Service, EndpointSlice and Endpoints objects they
// were resolved from), each KIngress's routing model (by the KIngress object and the backends it
// resolved to) and its status. Sources hand over the same object for an unchanged resource, so
// identity is the test; anything new or different misses and is built by the same code as the
// first pass. Bounded: service entries not used by the last pass are dropped, the rest are weak.
import type { CoreService, EndpointSlice, Endpoints, KIngress } from '../resources/types.ts'
import type { BackendSpec, RoutingIngress } from '../model.ts'
import type { Resolved } from './backends.ts'

export interface ServiceMemo {
  readonly svc: CoreService
  readonly slices: readonly EndpointSlice[]
  readonly eps: Endpoints | undefined
  readonly result: Resolved
}

export interface RoutingMemo {
  readonly ownerKind: 'Route' | 'Ingress'
  /** the backends its splits resolved to, in rule → path → split order */
  readonly specs: readonly BackendSpec[]
  readonly routing: RoutingIngress
}

export interface StatusMemo {
  /** the outcome: served, the host lost in a conflict and to whom ('' when none), the backends' problems */
  readonly served: boolean
  readonly host: string
  readonly winner: string
  readonly problems: readonly string[]
  readonly out: KIngress
}

export class ReconcileCache {
  #services = new Map<string, ServiceMemo>()
  #next = new Map<string, ServiceMemo>()
  readonly routing = new WeakMap<KIngress, RoutingMemo>()
  readonly status = new WeakMap<KIngress, StatusMemo>()
  /** a claimant's hosts (ruleHosts of every rule) */
  readonly hosts = new WeakMap<KIngress, string[]>()
  /** hits and misses of the routing memo in the last pass (tests, debugging) */
  stats = { hits: 0, misses: 0 }

  /** A reconcile starts: service entries it does not use are dropped at its end. */
  begin(): void {
    this.#next = new Map()
    this.stats = { hits: 0, misses: 0 }
  }

  end(): void {
    this.#services = this.#next
    this.#next = new Map()
  }

  service(key: string): ServiceMemo | undefined {
    return this.#next.get(key) ?? this.#services.get(key)
  }

  setService(key: string, memo: ServiceMemo): void {
    this.#next.set(key, memo)
  }
}

/** Same elements, same order, by identity. */
export function sameRefs<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
