// The `sluice` command line as a user runs it: help, version, validate, and usage errors.
import t from 'tap'
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { ROOT, runSluice, tempDir } from '../fixtures/sluice.ts'

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }

t.test('--help prints usage on stdout and exits 0', async (t) => {
  const [long, short, bare] = await Promise.all([runSluice(['--help']), runSluice(['-h']), runSluice([])])
  for (const [flag, r] of [['--help', long], ['-h', short]] as const) {
    t.equal(r.code, 0, flag)
    t.equal(r.stderr, '')
    t.match(r.stdout, /^sluice — a Knative-style serverless ingress\n/)
    t.match(r.stdout, /^Usage:$/m)
    t.match(r.stdout, /^ {2}sluice serve \[--config DIR\] \[--kubernetes/m)
    t.match(r.stdout, /^ {2}sluice validate DIR$/m)
    t.match(r.stdout, /^ {2}sluice --help \| --version$/m)
  }
  t.equal(bare.code, 0, 'no command prints the help too')
  t.equal(bare.stdout, long.stdout)
})

t.test('--version prints the package.json version', async (t) => {
  const runs = await Promise.all(['--version', '-v'].map(async (flag) => [flag, await runSluice([flag])] as const))
  for (const [flag, r] of runs) {
    t.equal(r.code, 0)
    t.equal(r.stdout, `${pkg.version}\n`, flag)
    t.equal(r.stderr, '')
  }
})

t.test('validate config/examples exits 0 with a summary', async (t) => {
  const state = tempDir('sluice-cli-state-')
  t.teardown(() => rmSync(state, { recursive: true, force: true }))
  const r = await runSluice(['validate', 'config/examples', '--state', state])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  const files = readdirSync(path.join(ROOT, 'config/examples'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f) && !path.basename(f).startsWith('.')).length
  const [first, ...hosts] = r.stdout.trimEnd().split('\n')
  t.match(first, new RegExp(`^config/examples: valid — ${files} files, \\d+ services, \\d+ routes, \\d+ ingresses, ${hosts.length} hosts$`))
  const listed = hosts.map((h) => h.trim())
  for (const h of ['hello.default.localhost', 'stable-hello.default.localhost', 'candidate-hello.default.localhost', 'hello.default.svc.cluster.local']) {
    t.ok(listed.includes(h), `lists ${h}`)
  }
  t.ok(hosts.every((h) => h.startsWith('  ')), 'hosts are indented')
  t.same(listed, [...listed].sort(), 'hosts are sorted')
})

t.test('validate reports every error as file:line:column field.path: message and exits 1', async (t) => {
  const dir = tempDir('sluice-cli-bad-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'a.yaml'), `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: nocontainers
spec:
  template:
    spec:
      timeoutSeconds: 30
`)
  writeFileSync(path.join(dir, 'b.yaml'), `apiVersion: v1
kind: Frob
metadata:
  name: x
`)
  writeFileSync(path.join(dir, 'c.yaml'), `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: toomuch
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9
    spec:
      containers:
        - image: example.dev/hello
  traffic:
    - latestRevision: true
      percent: 150
`)
  const r = await runSluice(['validate', dir])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  const lines = r.stderr.trimEnd().split('\n')
  t.equal(lines.length, 4, r.stderr)
  t.equal(lines[0], `${dir}/a.yaml:7:5 spec.template.spec.containers: missing field; list the container to run, e.g. - image: ghcr.io/me/app or - command: [node, server.js]`)
  t.ok(lines[1]!.startsWith(`${dir}/b.yaml:2:7 kind: unknown kind Frob (apiVersion v1); expected one of: serving.knative.dev/v1 Service, `), lines[1])
  t.equal(lines[2], `${dir}/c.yaml:15:16 spec.traffic[0].percent: must be an integer from 0 to 100, got 150`)
  t.equal(lines[3], `3 errors in ${dir}`)
})

const missingMessage = (dir: string): string =>
  `sluice: config path ${dir} does not exist; create the directory (mkdir -p ${dir}) and put your YAML files in it, or name the directory (or single YAML file) that holds them\n`

t.test('validate on a missing directory says so and exits 1', async (t) => {
  const dir = path.join(tempDir('sluice-cli-missing-'), 'nope')
  t.teardown(() => rmSync(path.dirname(dir), { recursive: true, force: true }))
  const r = await runSluice(['validate', dir])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.equal(r.stderr, missingMessage(dir))
})

t.test('serve on a missing config path exits 1 before opening any port', async (t) => {
  const parent = tempDir('sluice-cli-missing-')
  t.teardown(() => rmSync(parent, { recursive: true, force: true }))
  const dir = path.join(parent, 'nope')
  const r = await runSluice(['serve', '--config', dir, '--state', path.join(parent, 'state'), '--port', '0', '--internal-port', '0', '--tls-port', '0', '--admin-port', '0'])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.equal(r.stderr, missingMessage(dir), 'what, where and how to fix, and nothing else (no listening line)')
  const dev = await runSluice(['serve', '--config', '/dev/null', '--state', path.join(parent, 'state'), '--port', '0', '--admin-port', '0'])
  t.equal(dev.code, 1)
  t.equal(dev.stderr, 'sluice: config path /dev/null is neither a directory nor a regular file; name the directory (or single YAML file) holding your configuration\n')
})

t.test('a single YAML file is accepted as the config path', async (t) => {
  const dir = tempDir('sluice-cli-file-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'one.yaml')
  writeFileSync(file, `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: one
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9
    spec:
      containers:
        - image: example.dev/one
`)
  const r = await runSluice(['validate', file, '--state', path.join(dir, 'state')])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, `${file}: valid — 1 files, 1 services`)
  t.match(r.stdout, /^ {2}one\.default\.localhost$/m)
})

t.test('an unknown command exits 2 with the usage', async (t) => {
  const r = await runSluice(['frobnicate'])
  t.equal(r.code, 2)
  t.equal(r.stdout, '')
  t.match(r.stderr, /^sluice: unknown command "frobnicate"\n\n/)
  t.match(r.stderr, /^Usage:$/m)
})

t.test('an unknown option exits 2 with the usage', async (t) => {
  const r = await runSluice(['--frob'])
  t.equal(r.code, 2)
  t.match(r.stderr, /^sluice: .*'--frob'/)
  t.match(r.stderr, /^Usage:$/m)
})

t.test('serve without --config exits 2 with the usage', async (t) => {
  const r = await runSluice(['serve'])
  t.equal(r.code, 2)
  t.equal(r.stdout, '')
  t.match(r.stderr, /^sluice: serve needs --config DIR, --kubernetes, or both\n\n/)
  t.match(r.stderr, /^Usage:$/m)
})

t.test('serve with a bad port exits 2', async (t) => {
  const dir = tempDir('sluice-cli-port-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = await runSluice(['serve', '--config', dir, '--port', 'eighty'])
  t.equal(r.code, 2)
  t.match(r.stderr, /^sluice: --port must be a port number \(0-65535\), got "eighty"\n/)
})
