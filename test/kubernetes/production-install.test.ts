// The package as it ships (npm pack's files, production dependencies only, as the Dockerfile
// installs them) runs: every module bin/sluice.ts loads needs only "dependencies", is copied into
// the image, and `sluice --help` and `sluice validate` work from such an install.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, copyFileSync, existsSync, realpathSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import ts from 'typescript'

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

t.test('a production-only install runs sluice --help and validate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-prod-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = path.join(dir, 'package')

  // The files `npm pack` would put in the tarball.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as [{ files: { path: string }[] }]
  const packedFiles = packed[0].files.map((f) => f.path)
  t.ok(packedFiles.includes(ENTRY) && packedFiles.includes('package.json'), 'npm pack ships bin/sluice.ts and package.json')
  for (const f of packedFiles) {
    mkdirSync(path.dirname(path.join(app, f)), { recursive: true })
    copyFileSync(path.join(ROOT, f), path.join(app, f))
  }

  // What `npm ci --omit=dev` lays out: the lockfile's packages not marked dev, at their lockfile
  // paths, taken from the installed tree (hard links, so nothing resolves back into it).
  const installed = realpathSync(path.join(ROOT, 'node_modules'))
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> }
  let count = 0
  for (const [where, meta] of Object.entries(lock.packages)) {
    if (!where.startsWith('node_modules/') || meta.dev === true) continue
    const from = path.join(installed, where.slice('node_modules/'.length))
    if (!existsSync(from)) {
      t.ok(meta.optional, `${where} is installed (run npm ci)`)
      continue
    }
    mirrorPackage(from, path.join(app, where))
    count++
  }
  t.ok(count > 5, `${count} production packages laid out`)
  t.notOk(existsSync(path.join(app, 'node_modules/typescript')) || existsSync(path.join(app, 'node_modules/tap')), 'no devDependencies')

  const env = { ...process.env, NODE_PATH: '', SLUICE_STATE_DIR: path.join(dir, 'state') }
  const run = (args: string[]) => spawnSync(process.execPath, [ENTRY, ...args], { cwd: app, env, encoding: 'utf8', timeout: 60_000 })

  const help = run(['--help'])
  t.equal(help.status, 0, `sluice --help exits 0${help.stderr ? `: ${help.stderr}` : ''}`)
  t.match(help.stdout, /Usage:/)

  const version = run(['--version'])
  t.equal(version.stdout.trim(), (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)

  if (packedFiles.some((f) => f.startsWith('config/examples/'))) {
    const validate = run(['validate', 'config/examples'])
    t.equal(validate.status, 0, `sluice validate config/examples exits 0${validate.stderr ? `: ${validate.stderr}` : ''}`)
  }
})

/** A package directory, hard-linked file by file, without its own node_modules (the lockfile lists those packages itself). */
function mirrorPackage(from: string, to: string, top = true): void {
  mkdirSync(to, { recursive: true })
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (top && e.name === 'node_modules') continue
    const src = path.join(from, e.name)
    const dst = path.join(to, e.name)
    if (e.isDirectory()) mirrorPackage(src, dst, false)
    else copyEntry(src, dst, e.isSymbolicLink())
  }
}

function copyEntry(src: string, dst: string, symlink: boolean): void {
  if (symlink) { symlinkSync(readlinkSync(src), dst); return }
  try {
    linkSync(src, dst)
  } catch (err) {
    // another filesystem (EXDEV) or links not allowed: copy
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    cpSync(src, dst)
  }
}
