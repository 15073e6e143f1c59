// Local runtime building blocks without processes: line splitting, backoff, probe plans,
// the contract environment, failure wording, free ports.
import t from 'tap'
import net from 'node:net'
import { Backoff } from '../../../control/runtime/backoff.ts'
import { commandLine, instanceEnv, protocolOf } from '../../../control/runtime/contract.ts'
import { crashLoopFailure, exitCode, startFailure } from '../../../control/runtime/failure.ts'
import { ReservedPort, freePort, freePortExcept } from '../../../control/runtime/free-port.ts'
import { LineSplitter } from '../../../control/runtime/output.ts'
import { AGGRESSIVE_TIMEOUT_MS, planProbe, probePort, tcpCheck } from '../../../control/runtime/probe.ts'
import { revision } from './fixtures/helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

t.test('LineSplitter: whole lines, CRLF, split UTF-8, partial tail, long lines', async (t) => {
  const lines: string[] = []
  const s = new LineSplitter((l) => lines.push(l), 8)
  s.push(Buffer.from('one\r\ntw'))
  s.push(Buffer.from('o\n\nthree-'))
  const euro = Buffer.from('€\n')
  s.push(euro.subarray(0, 1))
  s.push(euro.subarray(1))
  s.push('abcdefghij')
  s.push('tail')
  s.end()
  s.end()
  s.push('ignored after end')
  t.same(lines, ['one', 'two', 'three-€', 'abcdefgh', 'ijtail'])
})

t.test('Backoff doubles up to the cap and resets', async (t) => {
  const b = new Backoff(100, 1_000)
  t.same([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1_000, 1_000])
  b.reset()
  t.equal(b.next(), 100)
  const d = new Backoff()
  const seq = Array.from({ length: 10 }, () => d.next())
  t.equal(seq[0], 100)
  t.equal(seq.at(-1), 10_000, 'default 100 ms doubling to 10 s')
})

t.test('probe plans follow the queue-proxy and kubelet defaults', async (t) => {
  const tcp = planProbe(undefined, 8080)
  t.equal(tcp.description, 'tcpSocket 127.0.0.1:$PORT')
  t.equal(tcp.startingTimeoutMs, AGGRESSIVE_TIMEOUT_MS, 'aggressive 100 ms per attempt')
  t.equal(tcp.readyTimeoutMs, 1_000)
  t.equal(tcp.periodMs, 10_000)
  t.equal(tcp.failureThreshold, 3)
  const http = planProbe({ httpGet: { path: 'healthz', port: 8080 }, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 1 }, 8080)
  t.equal(http.description, 'httpGet http://127.0.0.1:$PORT/healthz', 'containerPort means $PORT; path gets its slash')
  t.equal(http.startingTimeoutMs, 3_000, 'an explicit period means kubelet timing')
  t.equal(http.periodMs, 2_000)
  t.equal(http.failureThreshold, 1)
  const other = planProbe({ tcpSocket: { port: 9999 } }, 8080)
  t.equal(other.description, 'tcpSocket 127.0.0.1:9999')
  const exec = planProbe({ exec: { command: ['true'] }, initialDelaySeconds: 2 }, 8080)
  t.equal(exec.startingTimeoutMs, 1_000, 'exec probes keep timeoutSeconds')
  t.equal(exec.initialDelayMs, 2_000)
  t.equal(probePort(undefined, 5000, 8080), 5000)
  t.equal(probePort('http', 5000, 8080), 5000, 'named port → $PORT')
  t.equal(probePort(0, 5000, 8080), 5000)
  t.equal(probePort(8080, 5000, 8080), 5000)
  t.equal(probePort(7070, 5000, 8080), 7070)
})

t.test('tcpCheck against a listening and a closed port', async (t) => {
  const server = net.createServer((s) => s.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  t.equal(await tcpCheck(port, 200), true)
  await new Promise((r) => server.close(r))
  t.equal(await tcpCheck(port, 200), false)
})

t.test('contract: command line, env precedence, protocol', async (t) => {
  t.same(commandLine({ command: ['node', 'app.ts'], args: ['--x', '1'] }), { file: 'node', args: ['app.ts', '--x', '1'] })
  t.throws(() => commandLine({}))
  const rev = revision({ command: ['x'], env: [{ name: 'PORT', value: '1' }, { name: 'A', value: 'a' }, { name: 'B' }, { name: 'HOME', value: '/h' }] }, { name: 'r-00001', service: '', configuration: 'r' })
  const env = instanceEnv(rev, 4321, { HOME: '/root', PATH: '/bin', K_SERVICE: 'stale' })
  t.same(env, { HOME: '/h', PATH: '/bin', PORT: '4321', A: 'a', B: '', K_SERVICE: '', K_CONFIGURATION: 'r', K_REVISION: 'r-00001' })
  t.equal(protocolOf({ ports: [{ name: 'h2c' }] }), 'h2c')
  t.equal(protocolOf({ ports: [{ name: 'http1' }] }), 'http1')
  t.equal(protocolOf({}), 'http1')
})

t.test('failure wording', async (t) => {
  t.equal(exitCode({ code: 2, signal: null }), 2)
  t.equal(exitCode({ code: null, signal: 'SIGKILL' }), 137, 'signal N → 128+N like Kubernetes')
  const loop = crashLoopFailure('a-1', { code: null, signal: 'SIGSEGV', lastOutput: 'boom' }, 3)
  t.equal(loop.reason, 'ExitCode139')
  t.equal(loop.message, 'instance a-1 was killed by SIGSEGV before becoming ready (3 exits in a row without readiness); last output: boom')
  const err: NodeJS.ErrnoException = new Error('spawn x EACCES')
  err.code = 'EACCES'
  t.same(startFailure('a-1', { code: null, signal: null, error: err }), { reason: 'ContainerCannotRun', message: 'instance a-1 could not start: spawn x EACCES' })
})

t.test('free ports are bindable and avoid taken ones', async (t) => {
  const port = await freePort()
  t.ok(port > 0)
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  await new Promise((r) => server.close(r))
  const seen: number[] = []
  const other = await freePortExcept((p) => { seen.push(p); return seen.length < 2 })
  t.equal(other, seen[1], 'retried past a taken port')
})

t.test('a reserved port is held until taken, then bindable at once', async (t) => {
  const r = new ReservedPort()
  t.teardown(() => r.close())
  const held = (): Promise<number> => waitFor(() => r.port, { what: 'a reserved port' })
  t.equal(r.take(), 0, 'nothing reserved yet')
  r.fill()
  const port = await held()
  t.ok(port > 0, `reserved ${port}`)
  const listen = (p: number): Promise<net.Server | string> => new Promise((res) => {
    const server = net.createServer()
    server.once('error', (e: NodeJS.ErrnoException) => res(e.code ?? 'error'))
    server.listen(p, '127.0.0.1', () => res(server))
  })
  t.equal(await listen(port), 'EADDRINUSE', 'nobody else can bind it while it is held')
  r.fill()
  t.equal(r.port, port, 'fill() keeps the one it holds')
  t.equal(r.take(), port)
  const server = await listen(port)
  t.type(server, net.Server, 'the app can bind it right after take()')
  if (typeof server !== 'string') await new Promise((res) => server.close(res))
  r.fill()
  const next = await held()
  t.ok(next > 0 && next !== port, 'another one after a take')
  r.close()
  t.equal(r.take(), 0, 'closed: nothing to take')
  r.fill()
  t.equal(r.port, 0, 'closed: fill() does nothing')
})
