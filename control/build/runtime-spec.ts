// What the runtime runs for a revision built from source: its snapshot's start command (or the
// template's own command, which wins) in the snapshot directory, never the source folder. A
// revision whose build has not succeeded gets no command at all, so nothing runs the live tree.
import type { Container, KObject, Revision } from '../resources/types.ts'
import { SOURCE_ANNOTATION } from '../reconcile/names.ts'
import { servingContainer } from '../reconcile/revision.ts'
import { resolve } from 'node:path'
import type { BuildView } from './build-queue.ts'

export function withSnapshots(objects: readonly KObject[], view: (revisionKey: string) => BuildView | undefined): KObject[] {
  return objects.map((o) => {
    if (o.kind !== 'Revision' || o.metadata.annotations?.[SOURCE_ANNOTATION] === undefined) return o
    const rev = o as Revision
    const serving = servingContainer(rev.spec)
    if (serving === undefined) return o
    const snap = view(`${rev.metadata.namespace}/${rev.metadata.name}`)?.snapshot
    let container: Container
    if (snap === undefined) {
      const { command: _c, args: _a, ...rest } = serving
      container = rest
    } else {
      const own = (serving.command?.length ?? 0) > 0
      const env = [...Object.entries(snap.env).map(([name, value]) => ({ name, value })), ...(serving.env ?? [])]
      container = {
        ...serving,
        command: own ? serving.command : [...snap.start],
        workingDir: resolve(snap.dir, serving.workingDir ?? '.'),
        env,
      }
    }
    const containers = (rev.spec.containers ?? []).map((c) => (c === serving ? container : c))
    return { ...rev, spec: { ...rev.spec, containers } }
  })
}
