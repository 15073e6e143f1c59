// The program as it ships runs from production dependencies only: every module bin/sluice.ts
// loads needs only "dependencies" and is copied into the image (which runs the .ts on Node 24), and
// the npm package (compiled to dist/ by prepack) installs and runs `sluice` from its bin.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import ts from 'typescript'
import { waitFor } from '../fixtures/wait.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const ENTRY = 'bin/sluice.ts'

interface PackageJson {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson

/** Module specifiers a file loads at run time: `import type` / `export type` are erased by Node and left out. */
function runtimeImports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text)
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0]
      if (arg && ts.isStringLiteralLike(arg)) out.push(arg.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(src)
  return out
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(spec: string): string {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/** Every repository file reachable from bin/sluice.ts, and the bare packages they load (with who loads them). */
function importGraph(): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>()
  const packages = new Map<string, string>()
  const todo = [path.join(ROOT, ENTRY)]
  while (todo.length > 0) {
    const file = todo.pop()!
    if (files.has(file)) continue
    files.add(file)
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('node:')) continue
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec)
        if (!existsSync(target)) throw new Error(`${path.relative(ROOT, file)} imports ${spec}, which does not exist`)
        todo.push(target)
      } else if (!packages.has(packageName(spec))) {
        packages.set(packageName(spec), path.relative(ROOT, file))
      }
    }
  }
  return { files, packages }
}

t.test('every package bin/sluice.ts loads is a production dependency', async (t) => {
  const { files, packages } = importGraph()
  t.ok(files.size > 50, `the graph covers the program (${files.size} files)`)
  for (const [name, by] of packages) {
    t.ok(name in pkg.dependencies, `${name} (imported by ${by}) is in "dependencies"${name in pkg.devDependencies ? ', not devDependencies' : ''}`)
  }
})

t.test('the Dockerfile copies every module the program loads and runs it as a numeric non-root user', async (t) => {
  const docker = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
  const stages = docker.split(/^FROM /m).slice(1)
  const runtime = stages.at(-1)!
  t.match(stages[0], /npm ci --omit=dev/, 'the dependency stage installs without devDependencies')
  t.match(runtime, /^COPY --from=\S+ \/app\/node_modules \.\/node_modules$/m, 'the runtime stage takes node_modules from it')
  const copied = [...runtime.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/))
  const { files } = importGraph()
  for (const top of new Set([...files].map((f) => path.relative(ROOT, f).split(path.sep)[0]!))) {
    t.ok(copied.includes(top), `COPY ${top} (loaded by the program)`)
  }
  t.ok(copied.includes('package.json'), 'COPY package.json (read by --version)')
  t.match(runtime, /^USER 65532(:65532)?$/m, 'a numeric user, so the kubelet can verify runAsNonRoot')
  t.match(runtime, /^ENTRYPOINT \["node", "bin\/sluice\.ts"\]$/m)
  t.match(runtime, /^CMD \["serve", "--kubernetes"\]$/m)
  for (const port of [8080, 8081, 8443, 9090]) t.match(runtime, new RegExp(`^EXPOSE .*\\b${port}\\b`, 'm'), `EXPOSE ${port}`)
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  for (const c of copied) t.notOk(ignored.includes(c), `.dockerignore keeps ${c} in the build context`)
  t.ok(ignored.includes('node_modules'), '.dockerignore leaves out the host node_modules')
})

t.test('the packed package installs with production dependencies and runs sluice from its bin', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // A real `npm pack`: prepack compiles to dist/ (Node does not strip types under node_modules), postpack removes it.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 })) as [{ filename: string; files: { path: string }[] }]
  const files = packed[0].files.map((f) => f.path)
  t.ok(files.includes('dist/bin/sluice.js') && files.includes('bin/sluice.mjs'), 'ships the compiled CLI and its launcher')
  t.notOk(files.some((f) => f.endsWith('.ts') && !f.startsWith('config/')), 'ships no TypeScript sources (the example plugin aside)')
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('bench/')), 'ships no tests or benchmarks')
  t.ok(files.includes('LICENSE'), 'ships the LICENSE')
  for (const f of ['dist/control/functions/runtimes.js', 'dist/control/functions/runtime/node-runtime.mjs', 'dist/control/functions/runtime/python_runtime.py', 'dist/control/functions/templates/node/http/index.js', 'dist/control/functions/templates/node/http/package-lock.json']) {
    t.ok(files.includes(f), `ships ${f} (func create, the function builder)`)
  }
  t.notOk(existsSync(path.join(ROOT, 'dist')), 'postpack leaves the checkout without dist/')

  const prefix = path.join(dir, 'prefix')
  const install = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, packed[0].filename)],
    { encoding: 'utf8', timeout: 180_000 })
  t.equal(install.status, 0, `npm install -g the tarball${install.status === 0 ? '' : `: ${install.stderr}`}`)
  const installed = path.join(prefix, 'lib/node_modules/sluice')
  t.notOk(existsSync(path.join(installed, 'node_modules/typescript')) || existsSync(path.join(installed, 'node_modules/tap')), 'no devDependencies')

  const bin = path.join(prefix, 'bin/sluice')
  const env = { ...process.env, NODE_PATH: '', SLUICE_STATE_DIR: path.join(dir, 'state') }
  // The installed bin, on the Node that runs the tests, from a directory outside the checkout.
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })

  const help = run(['--help'])
  t.equal(help.status, 0, `sluice --help exits 0${help.stderr ? `: ${help.stderr}` : ''}`)
  t.match(help.stdout, /Usage:/)
  t.equal(run(['--version']).stdout.trim(), (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)
  // As a user starts: a copy of the shipped examples (Node strips types only outside node_modules, and their plugin is .ts).
  // The example's commands name config/examples/app/… relative to the working directory.
  const config = path.join(dir, 'config/examples')
  cpSync(path.join(installed, 'config/examples'), config, { recursive: true })
  const validate = run(['validate', config])
  t.equal(validate.status, 0, `sluice validate on the shipped examples exits 0${validate.stderr ? `: ${validate.stderr}` : ''}`)

  // A function made and deployed with the installed CLI, outside the checkout: the build finds the
  // function runtime inside the installed package (control/functions/runtimes.ts).
  const fnDir = path.join(dir, 'fns', 'pkgfn')
  const created = run(['func', 'create', fnDir])
  t.equal(created.status, 0, `sluice func create${created.stderr ? `: ${created.stderr}` : ''}`)
  const deployed = run(['func', 'deploy', fnDir, '--config', config])
  t.equal(deployed.status, 0, `sluice func deploy${deployed.stderr ? `: ${deployed.stderr}` : ''}`)
  t.notMatch(readFileSync(path.join(config, 'pkgfn.yaml'), 'utf8'), dir, 'the deployed Service holds no absolute path')

  // serve: the shipped example and the function answer through the installed gateway.
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, '--state', path.join(dir, 'state'),
    '--port', '0', '--internal-port', '0', '--tls-port', '0', '--admin-port', '0', '--host', '127.0.0.1'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let log = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { log += d })
  const port = await waitFor(() => /sluice listening public=(\d+)/.exec(log)?.[1], { timeoutMs: 60_000, what: () => `sluice serve to listen; logs:\n${log.slice(-3000)}` })
  const ready = await waitFor(async () => {
    const status = await new Promise<number>((resolve) => {
      http.get({ host: '127.0.0.1', port: Number(port), path: '/', headers: { host: 'hello.default.localhost' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
        .on('error', () => resolve(0))
    })
    return status === 200 ? { status } : undefined
  }, { timeoutMs: 60_000, everyMs: 50, what: () => `the example to answer 200; logs:\n${log.slice(-3000)}` })
  t.equal(ready.status, 200, 'hello.default.localhost answers from the installed package')
  const fn = await waitFor(async () => {
    const got = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port: Number(port), path: '/?name=Ada', headers: { host: 'pkgfn.default.localhost' } }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve(`${res.statusCode} ${body}`))
      }).on('error', () => resolve('refused'))
    })
    return got.startsWith('200 ') ? got : undefined
  }, { timeoutMs: 120_000, everyMs: 100, what: () => `the deployed function to answer 200; logs:\n${log.slice(-3000)}` })
  t.equal(fn, '200 Hello from pkgfn, Ada!\n', 'the function deployed with the installed CLI answers')
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
})
