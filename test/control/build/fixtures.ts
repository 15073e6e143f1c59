// Shared by the build tests: projects, YAML and views of a running Sluice's builds.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { request, type SluiceProcess } from '../../fixtures/sluice.ts'
import { cond, resource } from '../../activator/fixtures/helpers.ts'

export const LOCK = JSON.stringify({
  name: 'web', version: '1.0.0', lockfileVersion: 3, requires: true,
  packages: {
    '': { name: 'web', version: '1.0.0', dependencies: { ms: '2.1.3' } },
    'node_modules/ms': { version: '2.1.3', resolved: 'https://registry.npmjs.org/ms/-/ms-2.1.3.tgz', integrity: 'sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==', license: 'MIT' },
  },
}, null, 2)
export const PKG = JSON.stringify({ name: 'web', version: '1.0.0', private: true, dependencies: { ms: '2.1.3' }, scripts: { start: 'node server.js' } })
export const server = (version: string): string =>
  `const http = require('node:http'); const ms = require('ms');\n` +
  `http.createServer((req, res) => res.end(${JSON.stringify(version)} + ' ' + ms(60000) + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')\n`
export const PY_MAIN = [
  'import os, sys',
  'from http.server import BaseHTTPRequestHandler, HTTPServer',
  'class H(BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        body = ("py " + ("venv" if sys.prefix != sys.base_prefix else "system") + "\\n").encode()',
  '        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)',
  'HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()',
].join('\n') + '\n'

export function serviceYaml(name: string, source: string, opts: { bump?: string; traffic?: string[] } = {}): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', `metadata: { name: ${name} }`, 'spec:', '  template:', '    metadata:', '      annotations:',
    `        sluice.dev/source: ${source}`, '        autoscaling.knative.dev/window: 6s',
    ...(opts.bump !== undefined ? [`        example.com/deploy: "${opts.bump}"`] : []),
    ...(opts.traffic !== undefined ? ['  traffic:', ...opts.traffic.map((l) => `  ${l}`)] : []),
  ].join('\n') + '\n'
}

export const get = async (s: SluiceProcess, h: string): Promise<{ status: number; body: string }> => {
  try { return await request(s.port, h, '/', { timeoutMs: 20_000 }) } catch (err) { return { status: 0, body: (err as Error).message } }
}
export const condOf = async (s: SluiceProcess, rev: string, type: string) => cond(await resource(s, 'Revision', rev), type)
export const buildLog = async (s: SluiceProcess, rev: string): Promise<string> =>
  (await s.admin(`/debug/logs?revision=default/${rev}`)).body.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { line: string }).line).join('\n')
export const snapshots = (s: SluiceProcess): string[] => readdirSync(path.join(s.stateDir, 'snapshots')).filter((n) => !n.startsWith('.')).sort()

