// `all` / `any` over compiled child filters, with Knative's hit-count reordering
// (knative/eventing pkg/eventfilter/subscriptionsapi/{all,any}_filter.go): the child that decides
// (fails an `all`, passes an `any`) counts a hit, and moves one place forward once its count is
// more than twice its predecessor's, so the deciding child tends to run first. Knative does this
// with a goroutine, a channel and a lock; here evaluation is synchronous, so it is two array
// swaps inline. Purely an optimisation: children are pure, so order never changes the result.
import type { CloudEventRecord, EventFilter } from '../types.ts'

function ordered(children: readonly EventFilter[], decideOn: boolean): EventFilter {
  const order: EventFilter[] = children.slice()
  const hits = new Float64Array(order.length)
  const n = order.length
  return (event: CloudEventRecord) => {
    for (let i = 0; i < n; i++) {
      if (order[i]!(event) === decideOn) {
        const c = ++hits[i]!
        if (i > 0 && c > hits[i - 1]! * 2) {
          const f = order[i]!
          order[i] = order[i - 1]!
          order[i - 1] = f
          hits[i] = hits[i - 1]!
          hits[i - 1] = c
        }
        return decideOn
      }
    }
    return !decideOn
  }
}

/** Passes when every child passes (an empty list is no constraint: the caller drops it). */
export function allOf(children: readonly EventFilter[]): EventFilter {
  return children.length === 1 ? children[0]! : ordered(children, false)
}

/** Passes when some child passes. */
export function anyOf(children: readonly EventFilter[]): EventFilter {
  return children.length === 1 ? children[0]! : ordered(children, true)
}
