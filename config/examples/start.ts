// `npm start`: runs the example's two app instances (the local process runtime will do this
// itself once revisions can carry a `command`), then `sluice serve --config config/examples`.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url))
const apps: ChildProcess[] = [
  { PORT: '9001', MESSAGE: 'Hello v1', K_REVISION: 'hello-v1' },
  { PORT: '9002', MESSAGE: 'Hello v2', K_REVISION: 'hello-v2' },
].map((env) => spawn(process.execPath, [here('./app/hello.ts')], { env: { ...process.env, ...env }, stdio: 'inherit' }))

const gateway = spawn(process.execPath, [here('../../bin/sluice.ts'), 'serve', '--config', here('.'), ...process.argv.slice(2)], { stdio: 'inherit' })
const stop = (): void => { gateway.kill('SIGTERM') }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
gateway.on('exit', (code) => {
  for (const a of apps) a.kill('SIGTERM')
  process.exit(code ?? 0)
})
