// `sluice func create DIR`: a new function project from the templates in control/functions/templates.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import { UsageError } from '../kn-commands.ts'
import { LANGUAGES, SPEC_VERSION, TEMPLATES, TEMPLATES_DIR, checkName, type FuncYaml, type Language, type Template } from './project.ts'

export interface CreateOptions {
  dir: string
  language: string
  template: string
  name?: string
  now?: Date
}

/** Writes the project and returns the files written (relative to dir). */
export function createFunction(opts: CreateOptions): string[] {
  if (!LANGUAGES.includes(opts.language as Language)) throw new UsageError(`--language ${JSON.stringify(opts.language)}: use one of ${LANGUAGES.join(', ')}`)
  if (!TEMPLATES.includes(opts.template as Template)) throw new UsageError(`--template ${JSON.stringify(opts.template)}: use one of ${TEMPLATES.join(', ')}`)
  const language = opts.language as Language
  const template = opts.template as Template
  const source = path.join(TEMPLATES_DIR, language, template)
  if (!existsSync(source)) throw new UsageError(`there is no ${template} template for ${language} yet; use --template http`)
  const dir = path.resolve(opts.dir)
  const name = opts.name ?? path.basename(dir)
  checkName(name, opts.name === undefined ? `${opts.dir} (the name comes from the folder)` : '--name')
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new UsageError(`${opts.dir} already exists and is not empty; func create writes a new project into an empty or new folder`)
  }
  mkdirSync(dir, { recursive: true })
  cpSync(source, dir, { recursive: true })
  const written: string[] = []
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    let file = path.join(dir, rel)
    if (statSync(file).isDirectory()) continue
    if (file.endsWith('.tmpl')) { // stored so that Sluice's own tsc and tap leave the templates alone
      renameSync(file, file.slice(0, -'.tmpl'.length))
      file = file.slice(0, -'.tmpl'.length)
    }
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll('{{name}}', name))
    written.push(path.relative(dir, file))
  }
  const func: FuncYaml = {
    specVersion: SPEC_VERSION,
    name,
    runtime: language,
    invoke: template === 'cloudevents' ? 'cloudevent' : 'http',
    created: (opts.now ?? new Date()).toISOString(),
  }
  writeFileSync(path.join(dir, 'func.yaml'), `# A function project (the func.yaml of Knative Functions). Run it with \`sluice func run .\`,\n# deploy it with \`sluice func deploy . --config DIR\`.\n${stringify(func)}`)
  writeFileSync(path.join(dir, 'README.md'), readme(name, language, template))
  written.push('func.yaml', 'README.md')
  return written.sort()
}

function readme(name: string, language: Language, template: Template): string {
  const handler = language === 'python' ? 'func.py' : language === 'typescript' ? 'index.ts' : 'index.js'
  const test = language === 'python' ? 'python3 -m unittest' : 'npm test'
  const call = template === 'cloudevents'
    ? `curl -i http://127.0.0.1:8080/ -H 'ce-specversion: 1.0' -H 'ce-type: example.ping' \\\n  -H 'ce-source: /curl' -H 'ce-id: 1' -H 'content-type: application/json' -d '{"message": "hi"}'`
    : `curl -i 'http://127.0.0.1:8080/?name=Ada'\ncurl -i http://127.0.0.1:8080/ -H 'content-type: application/json' -d '{"n": 1}'`
  return `# ${name}

A ${language} function (${template === 'cloudevents' ? 'CloudEvents' : 'HTTP'}) for Sluice, in the project shape of
Knative Functions. The handler is \`${handler}\`; \`func.yaml\` names the function and its runtime.

\`\`\`sh
${test}                                        # the handler's test
sluice func run .                               # serve it on http://127.0.0.1:8080, reloading on save
${call}
sluice func deploy . --config ../config         # write ../config/${name}.yaml for \`sluice serve\`
\`\`\`

Sluice's function runtime serves the handler: \`/health/readiness\` and \`/health/liveness\` answer
probes, and SIGTERM lets in-flight requests finish before the process exits.
`
}
