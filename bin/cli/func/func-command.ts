// `sluice func create|run|deploy`: Knative Functions' workflow (the `func` CLI) on Sluice.
import { parseArgs } from 'node:util'
import path from 'node:path'
import { UsageError } from '../kn-commands.ts'
import { createFunction } from './create.ts'
import { deployFunction } from './deploy.ts'
import { runFunction } from './run.ts'

export const FUNC_HELP = `  sluice func create DIR [--language node|typescript|python] [--template http|cloudevents] [--name NAME]
  sluice func run DIR [--port 8080] [--host 127.0.0.1]
  sluice func deploy DIR --config CONFIGDIR
`

export const FUNC_HELP_DETAIL = `func       create: a function project in DIR (func.yaml, the handler, its test, a README).
           run: serve DIR's function locally, restarting it when a file changes.
           deploy: write or update CONFIGDIR/<name>.yaml, a Knative Service running the function
           (annotation sluice.dev/source); a running \`sluice serve --config CONFIGDIR\` rolls
           out a new revision on every deploy. See docs/functions.md.
`

export async function runFuncCommand(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [sub, ...rest] = argv
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      language: { type: 'string', short: 'l' },
      template: { type: 'string', short: 't' },
      name: { type: 'string' },
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      host: { type: 'string' },
    },
  })
  const dir = positionals[0]
  if (positionals.length > 1) throw new UsageError(`func ${sub} takes one folder, got ${positionals.join(' ')}`)
  switch (sub) {
    case 'create': {
      if (dir === undefined) throw new UsageError('func create needs a folder, e.g. sluice func create hello --language node')
      const files = createFunction({ dir, language: values.language ?? 'node', template: values.template ?? 'http', ...(values.name !== undefined ? { name: values.name } : {}) })
      out.write(`Created a ${values.language ?? 'node'} ${values.template ?? 'http'} function in ${dir}: ${files.join(', ')}\n` +
        `Next: sluice func run ${dir}    or    sluice func deploy ${dir} --config DIR\n`)
      return 0
    }
    case 'run': {
      const port = Number(values.port ?? 8080)
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), got ${JSON.stringify(values.port)}`)
      const running = await runFunction({ dir: dir ?? '.', port, host: values.host ?? '127.0.0.1', out })
      await new Promise<void>((resolve) => {
        const stop = (): void => { running.stop().then(resolve, resolve) }
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      return 0
    }
    case 'deploy': {
      if (values.config === undefined) throw new UsageError('func deploy needs --config CONFIGDIR, the folder `sluice serve --config` reads')
      const r = deployFunction(dir ?? '.', values.config)
      out.write(`${r.created ? 'Created' : 'Updated'} ${path.relative(process.cwd(), r.file) || r.file}: Service ${r.name}; ` +
        `a running \`sluice serve --config ${values.config}\` rolls out a new revision (host ${r.name}.default.localhost)\n`)
      return 0
    }
    case undefined:
      throw new UsageError('func needs a command: create, run or deploy')
    default:
      throw new UsageError(`unknown func command ${JSON.stringify(sub)}; use create, run or deploy`)
  }
}
