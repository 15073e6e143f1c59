// What the runtime is given for a revision built from source: nothing to run before the build,
// the snapshot's start command in the snapshot directory after it, the template's command winning.
import t from 'tap'
import { withSnapshots } from '../../../control/build/runtime-spec.ts'
import type { BuildView } from '../../../control/build/build-queue.ts'
import type { Revision } from '../../../control/resources/types.ts'
import { revision } from '../fixtures.ts'

const snap: BuildView = {
  status: 'True', reason: 'Succeeded', message: '',
  snapshot: { digest: 'abc', dir: '/state/snapshots/abc', builder: 'python', start: ['/state/snapshots/abc/.venv/bin/python3', '/state/snapshots/abc/main.py'], env: { PYTHONUNBUFFERED: '1' }, durationMs: 5 },
}
const container = (o: unknown) => (o as Revision).spec.containers[0]!

t.test('before the build: no command, so the live folder never runs', async (t) => {
  const rev = revision('a', { upstream: null, command: ['node', 'server.js'], annotations: { 'sluice.dev/source': './app' } })
  const [out] = withSnapshots([rev], () => ({ status: 'Unknown', reason: 'Building', message: '' }))
  t.equal(container(out).command, undefined)
})

t.test('after it: the snapshot start command, in the snapshot, with its env before the container env', async (t) => {
  const rev = revision('a', { upstream: null, annotations: { 'sluice.dev/source': './app' } })
  rev.spec.containers = [{ env: [{ name: 'GREETING', value: 'hi' }] }]
  const [out] = withSnapshots([rev], () => snap)
  t.same(container(out).command, snap.snapshot!.start)
  t.equal(container(out).workingDir, '/state/snapshots/abc')
  t.same(container(out).env, [{ name: 'PYTHONUNBUFFERED', value: '1' }, { name: 'GREETING', value: 'hi' }])
})

t.test("the template's own command wins; workingDir is relative to the snapshot", async (t) => {
  const rev = revision('a', { upstream: null, command: ['python3', '-m', 'app'], annotations: { 'sluice.dev/source': './app' } })
  rev.spec.containers[0]!.workingDir = 'src'
  const [out] = withSnapshots([rev], () => snap)
  t.same(container(out).command, ['python3', '-m', 'app'])
  t.equal(container(out).workingDir, '/state/snapshots/abc/src')
})

t.test('revisions without a source are passed through as they are', async (t) => {
  const rev = revision('a', { upstream: null, command: ['node', 'server.js'] })
  t.equal(withSnapshots([rev], () => snap)[0], rev)
})
