// Activator.adopt across route tables: an unchanged Backend object (the compile cache's) keeps its
// throttler as configured, a changed one is configured again, a queue depth change reaches every
// throttler, and a backend no table names is retired.
import t from 'tap'
import { Activator } from '../../gateway/activator/activator.ts'
import type { Backend, RouteTable } from '../../gateway/route-table.ts'

function backend(key: string, origins: string[], containerConcurrency = 0): Backend {
  return {
    key, namespace: 'ns', revision: key, protocol: 'http1', origins, totalMs: 0, responseStartMs: 0, idleMs: 0, firstByteMs: 0,
    containerConcurrency, managed: false, tls: null, throttler: null,
  }
}

function table(...bs: Backend[]): RouteTable {
  return { backends: new Map(bs.map((b) => [b.key, b])) } as unknown as RouteTable
}

t.test('adopt configures what changed, keeps what did not, retires what is gone', async (t) => {
  const a = new Activator()
  t.teardown(() => a.adopt(table()))
  const one = backend('service/ns/one/80', ['http://127.0.0.1:1'])
  const two = backend('service/ns/two/80', ['http://127.0.0.1:2'])
  a.adopt(table(one, two))
  const t1 = a.throttler(one.key)!
  const t2 = a.throttler(two.key)!
  t.equal(one.throttler, t1)
  t.same(t1.routable.map((i) => i.origin), ['http://127.0.0.1:1'])
  const routable = t1.routable

  // The same Backend object: nothing is redone (the instance list is the same array).
  a.adopt(table(one, two))
  t.equal(a.throttler(one.key), t1)
  t.equal(t1.routable, routable, 'an unchanged backend is not configured again')

  // A new Backend object for the same key (new origins, new concurrency): configured again.
  const one2 = backend(one.key, ['http://127.0.0.1:3'], 1)
  a.adopt(table(one2, two))
  t.equal(a.throttler(one.key), t1, 'the throttler is kept across tables')
  t.equal(one2.throttler, t1)
  t.same(t1.routable.map((i) => i.origin), ['http://127.0.0.1:3'])
  t.equal(t1.containerConcurrency, 1)

  // The queue depth (config-sluice) reaches unchanged backends too.
  a.queueDepth = 7
  a.adopt(table(one2, two))
  t.equal(t1.queueDepth, 7)
  t.equal(t2.queueDepth, 7)

  // Gone from the table: retired.
  a.adopt(table(one2))
  t.equal(a.throttler(two.key), undefined)
  t.equal(t2.routable.length, 0, 'the retired throttler routes nowhere')
})
