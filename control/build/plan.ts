// What a builder decides about a source folder: the steps that install its dependencies (run in the
// snapshot, in order), how the snapshot is started, and which install a dependency cache may replace.

/** One command of a build, run without a shell in the snapshot directory. */
export interface BuildStep {
  readonly file: string
  readonly args: readonly string[]
  /** added to the build's environment */
  readonly env?: Readonly<Record<string, string>>
}

export interface BuildPlan {
  /** the buildpack-style builder that matched (`function`: a func.yaml project, served by Sluice's function runtime) */
  readonly builder: 'node' | 'typescript' | 'python' | 'procfile' | 'function'
  readonly steps: readonly BuildStep[]
  /** how an instance starts, absolute where it names the snapshot; empty when the source does not say */
  readonly start: readonly string[]
  /** why `start` is empty: the build fails with it unless the revision names its own command */
  readonly startProblem?: string
  /** environment an instance gets on top of the gateway's (a venv's PATH, PYTHONUNBUFFERED) */
  readonly env: Readonly<Record<string, string>>
  /**
   * The first `steps` of the plan only install dependencies into `dir` (relative to the snapshot):
   * a cache entry keyed by `key` (the lockfile's hash) replaces them.
   */
  readonly cache?: { readonly key: string; readonly dir: string; readonly steps: number }
}

/** A build that cannot succeed as the source is written: said to the user as is. */
export class BuildError extends Error {}

/** `web: cmd` from a Procfile, as Heroku and the Cloud Native Buildpacks read it. */
export function procfileWeb(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^web\s*:\s*(.+)$/.exec(line.trim())
    if (m !== null) return m[1]!.trim()
  }
  return undefined
}
