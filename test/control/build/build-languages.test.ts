// Build from source, end to end with a real `sluice serve`: Python projects (stdlib only, and a
// venv from an empty requirements.txt via python3 -m venv), TypeScript run by Node 24 itself, a
// bare Procfile, and garbage collection of a snapshot no revision references.
import t from 'tap'
import { request, startSluice } from '../../fixtures/sluice.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { host } from '../../activator/fixtures/helpers.ts'
import { PY_MAIN, buildLog, condOf, get, serviceYaml, snapshots } from './fixtures.ts'

const s = await startSluice({})
t.teardown(() => s.stop())

t.test('Python: stdlib main.py without a venv; an empty requirements.txt gets a venv', async (t) => {
  s.write('py/main.py', PY_MAIN)
  s.write('py.yaml', serviceYaml('py', './py'))
  s.write('pyv/app.py', PY_MAIN)
  s.write('pyv/requirements.txt', '# nothing yet\n')
  s.write('pyv.yaml', serviceYaml('pyv', './pyv'))
  for (const [svc, want] of [['py', 'py system\n'], ['pyv', 'py venv\n']] as const) {
    const r = await waitFor(async () => { const r = await get(s, host(svc)); return r.status === 200 && r }, { what: `${svc} answers`, timeoutMs: 120_000, everyMs: 200 })
    t.equal(r.body, want, svc)
    t.match((await condOf(s, `${svc}-00001`, 'BuildSucceeded'))?.message ?? '', /\(python\)/)
  }
  t.match(await buildLog(s, 'pyv-00001'), /\$ python3 -m venv \.venv/)
})

t.test('TypeScript (Node runs .ts, npm install without a lockfile) and a bare Procfile', async (t) => {
  s.write('ts/package.json', JSON.stringify({ name: 'ts', version: '1.0.0', private: true }))
  s.write('ts/tsconfig.json', '{}')
  s.write('ts/index.ts', "import http from 'node:http'\nconst answer: string = 'typed'\nhttp.createServer((_req, res) => res.end(answer + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')\n")
  s.write('ts.yaml', serviceYaml('ts', './ts'))
  s.write('proc/Procfile', 'web: exec python3 -m http.server "$PORT" --bind 127.0.0.1\n')
  s.write('proc/hello.txt', 'from a Procfile\n')
  s.write('proc.yaml', serviceYaml('proc', './proc'))
  const ts = await waitFor(async () => { const r = await get(s, host('ts')); return r.status === 200 && r }, { what: 'ts answers', timeoutMs: 120_000, everyMs: 200 })
  t.equal(ts.body, 'typed\n')
  t.match((await condOf(s, 'ts-00001', 'BuildSucceeded'))?.message ?? '', /\(typescript\)/)
  t.match(await buildLog(s, 'ts-00001'), /\$ npm install --omit=dev/)
  const proc = await waitFor(async () => { try { const r = await request(s.port, host('proc'), '/hello.txt', { timeoutMs: 20_000 }); return r.status === 200 && r } catch { return false } }, { what: 'proc answers', timeoutMs: 60_000, everyMs: 200 })
  t.equal(proc.body, 'from a Procfile\n', 'served from the snapshot directory')
  t.match((await condOf(s, 'proc-00001', 'BuildSucceeded'))?.message ?? '', /\(procfile\)/)
})

t.test('a snapshot no revision references is collected', async (t) => {
  const digest = /snapshot ([0-9a-f]{32})/.exec((await condOf(s, 'py-00001', 'BuildSucceeded'))?.message ?? '')?.[1]
  t.ok(digest !== undefined && snapshots(s).includes(digest), 'py has a snapshot')
  s.remove('py.yaml')
  await waitFor(() => !snapshots(s).includes(digest!), { what: 'the py snapshot to be removed', timeoutMs: 30_000, everyMs: 100 })
  t.ok(snapshots(s).length >= 3, 'the others stay')
  t.match(s.logs(), /unused snapshots removed/)
})
