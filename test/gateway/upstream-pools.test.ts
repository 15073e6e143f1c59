// Keep-alive pools shared by origin (gateway/activator/upstream-pools.ts): revisions whose
// instances name one origin send over one pool, a pool is made on the first request and closed
// when idle or when no instance names its origin any more; other TLS settings or protocols never
// share. Real backends on 127.0.0.1; requests go through the throttlers as the gateway's do.
import t from 'tap'
import { RevisionThrottler, type Waiter } from '../../gateway/activator/throttler.ts'
import type { UpstreamInstance } from '../../gateway/activator/upstream-instance.ts'
import { UpstreamPools, poolKey } from '../../gateway/activator/upstream-pools.ts'
import type { UpstreamTls } from '../../gateway/upstream-tls.ts'
import { startBackend, type Backend } from '../fixtures/backend.ts'

const hooks = { demand: () => {}, waiting: () => {} }

/** The client ports a backend saw: one per upstream connection. */
async function backendWithPorts(name: string): Promise<{ b: Backend; ports: Set<number> }> {
  const ports = new Set<number>()
  const b = await startBackend(name, (req) => {
    ports.add(req.socket.remotePort!)
    return false
  })
  return { b, ports }
}

/** A request admitted by a throttler and sent on the instance's pool; resolves with the status. */
function call(th: RevisionThrottler, path = '/'): Promise<number> {
  return new Promise((resolve, reject) => {
    const w: Waiter = {
      done: false,
      deadline: Infinity,
      arrived: performance.now(),
      send(inst: UpstreamInstance) {
        inst.dispatcher.request({ path, method: 'GET' }).then(async (r) => {
          await r.body.text()
          w.done = true
          th.leave(performance.now(), inst)
          resolve(r.statusCode)
        }, (err: unknown) => {
          w.done = true
          th.leave(performance.now(), inst)
          reject(err as Error)
        })
      },
      reject(status) { reject(new Error(`refused ${status}`)) },
    }
    th.admit(w, w.arrived)
  })
}

function revision(name: string, pools: UpstreamPools, origins: readonly string[], cc = 0): RevisionThrottler {
  const th = new RevisionThrottler(`revision/ns/${name}`, 'ns', name, hooks, pools)
  th.configure(cc, 100, false)
  th.setInstances(origins.map((origin) => ({ id: origin, origin, protocol: 'http1' as const })))
  return th
}

t.test('revisions on one origin share one pool, made on the first request', async (t) => {
  const { b, ports } = await backendWithPorts('shared')
  t.teardown(() => b.close())
  const pools = new UpstreamPools()
  t.teardown(() => pools.close())
  const ths = Array.from({ length: 50 }, (_, i) => revision(`r${i}`, pools, [b.origin]))
  t.same(pools.stats(), { known: 1, open: 0 }, 'one pool known, none made before a request')
  for (const th of ths) t.equal(await call(th), 200)
  t.same(pools.stats(), { known: 1, open: 1 })
  t.ok(ports.size <= 2, `50 sequential requests from 50 revisions reuse keep-alive connections (${ports.size}, not 50)`)
  for (const th of ths) th.close()
  t.same(pools.stats(), { known: 0, open: 0 }, 'the last revision to go closes the pool')
})

t.test('different origins, protocols and TLS settings never share', async (t) => {
  const pools = new UpstreamPools()
  t.teardown(() => pools.close())
  const tls = (id: string): UpstreamTls => ({ id, servername: 'kn-user-ns', connect: {} })
  const spec = { origin: 'https://10.0.0.1:8012', protocol: 'http1' as const }
  const keys = new Set([
    poolKey({ origin: 'http://10.0.0.1:8012', protocol: 'http1' }),
    poolKey({ origin: 'http://10.0.0.2:8012', protocol: 'http1' }),
    poolKey({ origin: 'http://10.0.0.1:8012', protocol: 'h2c' }),
    poolKey({ ...spec, tls: tls('trust-a|kn-user-ns|http/1.1') }),
    poolKey({ ...spec, tls: tls('trust-b|kn-user-ns|http/1.1') }),
    poolKey({ ...spec, tls: tls('trust-a|kn-user-other|http/1.1') }),
    poolKey({ ...spec, tls: tls('trust-a|kn-user-ns|h2') }),
  ])
  t.equal(keys.size, 7)
  const a = pools.acquire({ ...spec, tls: tls('trust-a|kn-user-ns|http/1.1') })
  const same = pools.acquire({ ...spec, tls: tls('trust-a|kn-user-ns|http/1.1') })
  const other = pools.acquire({ ...spec, tls: tls('trust-b|kn-user-ns|http/1.1') })
  t.equal(a, same, 'equal settings share')
  t.not(a, other, 'another trust chain gets its own pool')
  t.same(pools.stats(), { known: 2, open: 0 })
  for (const p of [a, same, other]) pools.release(p)
  t.same(pools.stats(), { known: 0, open: 0 })
})

t.test('an idle pool is closed by the sweep and made again by the next request', async (t) => {
  const { b, ports } = await backendWithPorts('idle')
  t.teardown(() => b.close())
  const pools = new UpstreamPools({ idleSweepMs: 3_600_000 })
  t.teardown(() => pools.close())
  const th = revision('r', pools, [b.origin])
  t.teardown(() => th.close())
  t.equal(await call(th), 200)
  const before = ports.size
  pools.sweep()
  t.same(pools.stats(), { known: 1, open: 1 }, 'used since the last sweep: kept')
  pools.sweep()
  t.same(pools.stats(), { known: 1, open: 0 }, 'unused for a whole interval: closed')
  t.equal(await call(th), 200, 'the next request makes a new pool')
  t.same(pools.stats(), { known: 1, open: 1 })
  t.equal(ports.size, before + 1, 'on a new connection')
})

t.test('a request in flight keeps its pool open across sweeps and instance removal', async (t) => {
  const { b } = await backendWithPorts('slow')
  t.teardown(() => b.close())
  const pools = new UpstreamPools({ idleSweepMs: 3_600_000 })
  t.teardown(() => pools.close())
  const th = revision('r', pools, [b.origin])
  const other = revision('s', pools, [b.origin])
  t.teardown(() => other.close())
  const slow = call(th, '/?delay=300')
  pools.sweep()
  pools.sweep()
  t.same(pools.stats(), { known: 1, open: 1 }, 'not idle while a request holds a slot')
  th.setInstances([])
  t.equal(await call(other), 200, 'the other revision still sends on it')
  t.equal(await slow, 200, 'the removed instance finishes its request')
  other.close()
  t.same(pools.stats(), { known: 0, open: 0 }, 'closed once nothing names the origin')
})

t.test('containerConcurrency stays per instance of each revision on a shared pool', async (t) => {
  const { b } = await backendWithPorts('cc')
  t.teardown(() => b.close())
  const pools = new UpstreamPools()
  t.teardown(() => pools.close())
  const r1 = revision('r1', pools, [b.origin], 1)
  const r2 = revision('r2', pools, [b.origin], 1)
  t.teardown(() => { r1.close(); r2.close() })
  const a = call(r1, '/?delay=100')
  const c = call(r2, '/?delay=100')
  const queued = call(r1)
  t.equal(r1.queue.size, 1, 'r1 has its one slot taken: the second request waits')
  t.equal(r2.queue.size, 0, 'r2 has a slot of its own on the same origin')
  t.same(await Promise.all([a, c, queued]), [200, 200, 200])
})
